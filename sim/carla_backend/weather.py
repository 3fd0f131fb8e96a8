"""Our weather presets as `carla.WeatherParameters`: one row of data per preset, names as in `sim.core`."""

from __future__ import annotations

from collections.abc import Mapping

import carla

from sim.core import WEATHER_PRESETS

# Atmosphere shared by every preset (carla.WeatherParameters() alone would leave scattering at 0).
BASE: Mapping[str, float] = {
    "scattering_intensity": 1.0,
    "mie_scattering_scale": 0.03,
    "rayleigh_scattering_scale": 0.0331,
}

# Field values of carla.WeatherParameters (cloudiness, precipitation, deposits, wetness, fog density: 0..100;
# fog distance in m; sun altitude in degrees above the horizon, negative at night).
WEATHER_TABLE: Mapping[str, Mapping[str, float]] = {
    "clear_noon": {"cloudiness": 10.0, "sun_altitude_angle": 60.0, "sun_azimuth_angle": 35.0, "wind_intensity": 10.0},
    "cloudy": {"cloudiness": 80.0, "sun_altitude_angle": 50.0, "sun_azimuth_angle": 35.0, "wind_intensity": 35.0},
    "wet": {
        "cloudiness": 70.0,
        "precipitation": 40.0,
        "precipitation_deposits": 40.0,
        "wetness": 70.0,
        "sun_altitude_angle": 40.0,
        "wind_intensity": 40.0,
    },
    "sunset": {"cloudiness": 20.0, "sun_altitude_angle": 6.0, "sun_azimuth_angle": 250.0, "wind_intensity": 10.0},
    "night": {"cloudiness": 15.0, "sun_altitude_angle": -70.0, "wind_intensity": 10.0},
    "fog": {
        "cloudiness": 60.0,
        "fog_density": 55.0,
        "fog_distance": 5.0,
        "fog_falloff": 1.0,
        "sun_altitude_angle": 45.0,
        "wetness": 10.0,
    },
}


def weather_parameters(preset: str) -> carla.WeatherParameters:
    """The CARLA weather for one of our presets (fields in neither table are 0)."""
    try:
        row = WEATHER_TABLE[preset]
    except KeyError:
        raise ValueError(f"unknown weather preset {preset!r}; choose one of {', '.join(WEATHER_PRESETS)}") from None
    return carla.WeatherParameters(**{**BASE, **row})
