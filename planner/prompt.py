"""The one prompt builder, used for data collection, SFT, GRPO and inference alike."""

from __future__ import annotations

from typing import Any

from planner.actions import PATH_ACTIONS, SPEED_ACTIONS

SYSTEM_PROMPT = (
    "You are the planning module of a self-driving car. You look at the front-camera image and decide the car's "
    "next high-level action for the coming seconds."
)

_INSTRUCTION = (
    "Choose one speed action from [{speed}] and one path action from [{path}]. First explain briefly, inside "
    "<think> </think>, what in the scene decides the action (traffic lights, vehicles, pedestrians, obstacles, "
    "the route). Then give the decision inside <answer> </answer> as `SPEED, PATH`, for example "
    "<answer> KEEP, STRAIGHT </answer>."
)


def build_prompt(speed_mps: float, navigation: str) -> str:
    """The user text that accompanies the image: ego speed, navigation command and the answer instruction."""
    nav = navigation.strip() or "Follow the road"
    return f"Ego speed: {speed_mps:.1f} m/s ({speed_mps * 3.6:.0f} km/h).\nNavigation: {nav}.\n" + _INSTRUCTION.format(
        speed=", ".join(SPEED_ACTIONS), path=", ".join(PATH_ACTIONS)
    )


def build_messages(speed_mps: float, navigation: str, with_system: bool = True) -> list[dict[str, Any]]:
    """Chat messages in the multimodal format of Qwen2-VL chat templates (one image placeholder, then the text)."""
    messages: list[dict[str, Any]] = []
    if with_system:
        messages.append({"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]})
    messages.append(
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "text", "text": build_prompt(speed_mps, navigation)}],
        }
    )
    return messages
