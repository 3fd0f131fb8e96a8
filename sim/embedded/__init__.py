"""The embedded simulator (CPU only): procedural towns, traffic, pedestrians, infractions and a Panda3D camera.

Panda3D is imported and configured here, before any of its objects exists and before a run installs its signal
handlers (a signal that lands while a Panda3D extension module is half imported crashed the interpreter).
Panda3D's process-wide transform cache made the pixels of a frame depend on what the same process had rendered
before; with the cache off, a pose renders the same image in any process after any history
(tests/sim/embedded/test_camera_determinism.py).
"""

from panda3d.core import loadPrcFileData

loadPrcFileData("sim.embedded", "transform-cache false")
