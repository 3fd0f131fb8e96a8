"""The expert's short plain statement of why it chose an action (the grounded reasoning teacher writes richer
text from the same facts)."""

from __future__ import annotations

from typing import Any

from planner.actions import MetaAction, spoken


def explain(action: MetaAction, facts: dict[str, Any]) -> str:
    """A short plain statement of the deciding cause (the grounded reasoning teacher writes richer text)."""
    cause = facts.get("decision", "clear_road")
    parts = []
    if cause.endswith("_light") and "light" in facts:
        parts.append(f"the light ahead is {facts['light']['state']} {facts['light']['distance']:.0f} m away")
    elif cause == "stop_sign" and "stop_sign" in facts:
        parts.append(f"a stop sign is {facts['stop_sign']['distance']:.0f} m ahead")
    elif cause in ("lead_vehicle",) and "lead" in facts:
        parts.append(
            f"a {facts['lead']['kind']} is {facts['lead']['gap']:.0f} m ahead at {facts['lead']['speed']:.1f} m/s"
        )
    elif cause in ("pedestrian", "crossing") and cause in facts:
        where = "is close to our lane" if facts[cause].get("near_lane") else "is crossing"
        parts.append(f"a {facts[cause]['kind']} {where} {facts[cause]['distance']:.0f} m ahead")
    elif cause == "occlusion" and "occlusion" in facts:
        parts.append(f"a stopped {facts['occlusion']['kind']} beside our lane may hide someone")
    elif cause == "speed_limit":
        parts.append("we are above the speed limit")
    elif cause == "obstacle" and "obstacle" in facts:
        kind = facts["obstacle"]["kind"].replace("_", " ")
        parts.append(f"a {kind} blocks the lane {facts['obstacle']['distance']:.0f} m ahead")
    elif cause == "yield" and "yield" in facts:
        reason = facts["yield"].get("reason", "oncoming")
        parts.append(
            {
                "crossing": f"a {facts['yield']['kind']} crossing the junction has the right of way",
                "merging": f"a {facts['yield']['kind']} in the lane we turn into has the right of way",
            }.get(reason, "oncoming traffic has the right of way for our left turn")
        )
    elif cause == "merge" and "merge" in facts:
        parts.append(f"our lane ends in {facts['merge']['distance']:.0f} m and the next lane has no gap yet")
    elif cause == "emergency_vehicle" and "emergency_vehicle" in facts:
        parts.append(f"an emergency vehicle is coming up {facts['emergency_vehicle']['distance']:.0f} m behind us")
    elif cause == "oncoming":
        parts.append("an oncoming vehicle cuts into our lane")
    else:
        parts.append("the road ahead is clear")
    if "lane_change" in facts and not facts["lane_change"].get("waiting_for_gap"):
        parts.append(f"we move to the {facts['lane_change']['side']} lane")
    if "maneuver" in facts and facts["maneuver"]["distance"] < 40:
        turn, distance = facts["maneuver"]["turn"], facts["maneuver"]["distance"]
        verb = "goes straight through the junction" if turn == "straight" else f"turns {turn}"
        parts.append(f"the route {verb} in {distance:.0f} m")
    return "; ".join(parts) + f", so we {spoken(action)}."
