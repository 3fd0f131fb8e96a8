"""Weather and lighting presets for the embedded camera: one row of data per preset, no logic beyond lookup.

Colours are linear-ish RGB in 0..1. Lighting is baked into vertex colours as
`albedo * (ambient + sun_colour * max(0, n . sun_dir))`, so `ambient` and `sun_colour` together set the brightness.
Fog is exponential in view depth: a surface d metres away keeps exp(-fog_density * d) of its own colour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.core import WEATHER_PRESETS

Colour = tuple[float, float, float]


@dataclass(frozen=True)
class Weather:
    name: str
    sky_zenith: Colour
    sky_horizon: Colour
    ambient: Colour
    sun_colour: Colour
    sun_elevation_deg: float
    sun_azimuth_deg: float  # world yaw the light comes from
    fog_density: float  # 1/m, 0 = no fog
    fog_colour: Colour
    road_tint: Colour  # multiplies the road albedo (wet asphalt is darker)
    ground_colour: Colour  # verges / terrain albedo
    lamp_gain: float  # brightness of lit traffic-light lamps and vehicle lights (emissive, not shaded)
    headlights: bool  # vehicles drive with their lamps lit
    beam_gain: float  # brightening of the ground at the centre of the ego's low beam (1 = not visible by day)
    wet_sheen: float  # 0..1, lighter streaks of reflected sky on the road

    @property
    def sun_dir(self) -> tuple[float, float, float]:
        el, az = math.radians(self.sun_elevation_deg), math.radians(self.sun_azimuth_deg)
        return (math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el))


_PRESETS: tuple[Weather, ...] = (
    Weather(
        name="clear_noon",
        sky_zenith=(0.30, 0.52, 0.86),
        sky_horizon=(0.70, 0.80, 0.93),
        ambient=(0.55, 0.56, 0.60),
        sun_colour=(0.55, 0.53, 0.48),
        sun_elevation_deg=60.0,
        sun_azimuth_deg=35.0,
        fog_density=0.0,
        fog_colour=(0.70, 0.80, 0.93),
        road_tint=(1.0, 1.0, 1.0),
        ground_colour=(0.36, 0.46, 0.26),
        lamp_gain=1.0,
        headlights=False,
        beam_gain=1.0,
        wet_sheen=0.0,
    ),
    Weather(
        name="cloudy",
        sky_zenith=(0.52, 0.56, 0.61),
        sky_horizon=(0.74, 0.76, 0.78),
        ambient=(0.74, 0.74, 0.76),
        sun_colour=(0.18, 0.18, 0.18),
        sun_elevation_deg=50.0,
        sun_azimuth_deg=35.0,
        fog_density=0.0,
        fog_colour=(0.74, 0.76, 0.78),
        road_tint=(0.95, 0.95, 0.96),
        ground_colour=(0.34, 0.42, 0.27),
        lamp_gain=1.0,
        headlights=False,
        beam_gain=1.0,
        wet_sheen=0.0,
    ),
    Weather(
        name="wet",
        sky_zenith=(0.40, 0.43, 0.48),
        sky_horizon=(0.60, 0.62, 0.65),
        ambient=(0.60, 0.61, 0.64),
        sun_colour=(0.12, 0.12, 0.13),
        sun_elevation_deg=50.0,
        sun_azimuth_deg=35.0,
        fog_density=0.006,
        fog_colour=(0.58, 0.60, 0.63),
        road_tint=(0.55, 0.57, 0.62),
        ground_colour=(0.28, 0.36, 0.23),
        lamp_gain=1.0,
        headlights=False,
        beam_gain=1.0,
        wet_sheen=0.35,
    ),
    Weather(
        name="sunset",
        sky_zenith=(0.28, 0.33, 0.58),
        sky_horizon=(0.98, 0.62, 0.36),
        ambient=(0.42, 0.36, 0.38),
        sun_colour=(0.75, 0.48, 0.26),
        sun_elevation_deg=8.0,
        sun_azimuth_deg=200.0,
        fog_density=0.0,
        fog_colour=(0.90, 0.62, 0.42),
        road_tint=(1.0, 0.97, 0.95),
        ground_colour=(0.36, 0.40, 0.24),
        lamp_gain=1.0,
        headlights=True,
        beam_gain=1.25,
        wet_sheen=0.0,
    ),
    Weather(
        name="night",
        sky_zenith=(0.01, 0.015, 0.04),
        sky_horizon=(0.04, 0.05, 0.09),
        ambient=(0.10, 0.10, 0.14),
        sun_colour=(0.04, 0.05, 0.08),  # moonlight
        sun_elevation_deg=40.0,
        sun_azimuth_deg=120.0,
        fog_density=0.0,
        fog_colour=(0.02, 0.02, 0.04),
        road_tint=(1.0, 1.0, 1.0),
        ground_colour=(0.30, 0.34, 0.26),
        lamp_gain=1.0,
        headlights=True,
        beam_gain=6.0,
        wet_sheen=0.0,
    ),
    Weather(
        name="fog",
        sky_zenith=(0.70, 0.72, 0.74),
        sky_horizon=(0.72, 0.74, 0.76),
        ambient=(0.70, 0.70, 0.72),
        sun_colour=(0.12, 0.12, 0.12),
        sun_elevation_deg=50.0,
        sun_azimuth_deg=35.0,
        fog_density=0.04,
        fog_colour=(0.72, 0.74, 0.76),
        road_tint=(0.92, 0.92, 0.94),
        ground_colour=(0.34, 0.40, 0.30),
        lamp_gain=1.0,
        headlights=True,
        beam_gain=1.0,
        wet_sheen=0.0,
    ),
)

WEATHERS: dict[str, Weather] = {w.name: w for w in _PRESETS}
assert tuple(WEATHERS) == WEATHER_PRESETS, "weather table and sim.core.WEATHER_PRESETS must list the same names"


def get_weather(name: str) -> Weather:
    try:
        return WEATHERS[name]
    except KeyError:
        raise ValueError(f"unknown weather {name!r}; valid presets: {', '.join(WEATHERS)}") from None
