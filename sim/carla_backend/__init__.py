"""The CARLA backend (`sim.carla_backend.backend.CarlaBackend`) and the pieces it is built from.

Pure parts (frames, config, network, routing, placement, weather, lights, infractions) run without a server and are
tested with the real `carla` client types; `session`, `sensors`, `actors` and `backend` talk to a server.
"""
