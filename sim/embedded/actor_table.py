"""The actors of one tick as columns, turned into `ActorState` objects only when someone reads them.

Ground truth is asked for every tick, but its actor list is read far less often (the gymnasium env reads it on
planning steps only), and building a few hundred frozen dataclasses costs as much as moving the traffic. An
`ActorTable` copies the columns when it is made (so later ticks cannot change it) and builds the states on first
use. It reads as the tuple it stands for: same items, equality, hash and repr, and it pickles as that tuple.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np

from sim.core import ActorKind, ActorState


class ActorTable(Sequence[ActorState]):
    """Vehicles, then pedestrians, then props, as `World` orders them."""

    __slots__ = ("_columns", "_items", "_len")

    def __init__(self, traffic: Any, pedestrians: Any, props: Any, lane_ids: Sequence[str]) -> None:
        tr, pd, pr = traffic, pedestrians, props
        self._len = len(tr.ids) + len(pd.ids) + len(pr.ids)
        self._items: tuple[ActorState, ...] | None = None
        self._columns: tuple[Any, ...] | None = (
            # vehicles: attribute dicts are never changed in place, so the list is copied but not the dicts
            list(tr.ids), list(tr.kinds), _floats(tr.x), _floats(tr.y), _floats(tr.yaw), _floats(tr.v),
            _floats(tr.size), [lane_ids[k] for k in tr.lane.tolist()], list(tr.attributes),
            ((tr.acc < -1.0) | (tr.v < 0.05)).tolist(),
            # pedestrians
            list(pd.ids), dict(pd.kinds_override), _floats(pd.x), _floats(pd.y), _floats(pd.yaw), _floats(pd.v),
            _floats(pd.size),
            # props: a door may open later, so their attributes are copied now
            list(pr.ids), list(pr.kinds), _floats(pr.boxes), list(pr.heights), [dict(a) for a in pr.attributes],
        )  # fmt: skip

    def _get(self) -> tuple[ActorState, ...]:
        if self._items is None:
            self._items = _build(*self._columns)  # type: ignore[misc]
            self._columns = None
        return self._items

    @overload
    def __getitem__(self, index: int) -> ActorState: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[ActorState, ...]: ...

    def __getitem__(self, index: int | slice) -> ActorState | tuple[ActorState, ...]:
        return self._get()[index]

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[ActorState]:
        return iter(self._get())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (tuple, ActorTable)):
            return self._get() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._get())

    def __repr__(self) -> str:
        return repr(self._get())

    def __reduce__(self) -> tuple[Any, ...]:
        return (tuple, (self._get(),))


def _floats(values: np.ndarray) -> list[Any]:
    """Rows of Python floats, as float(values[k]) would give them one by one."""
    return np.asarray(values, dtype=np.float64).tolist()


def _build(
    tr_ids, tr_kinds, tr_x, tr_y, tr_yaw, tr_v, tr_size, tr_lanes, tr_attrs, tr_braking,
    pd_ids, pd_override, pd_x, pd_y, pd_yaw, pd_v, pd_size,
    pr_ids, pr_kinds, pr_boxes, pr_heights, pr_attrs,
) -> tuple[ActorState, ...]:  # fmt: skip
    out = [
        ActorState(aid, kind, x, y, yaw, v, length, width, height, lane, {**attrs, "braking": braking})
        for aid, kind, x, y, yaw, v, (length, width, height), lane, attrs, braking in zip(
            tr_ids, tr_kinds, tr_x, tr_y, tr_yaw, tr_v, tr_size, tr_lanes, tr_attrs, tr_braking, strict=True
        )
    ]
    out.extend(
        ActorState(aid, pd_override.get(k, ActorKind.PEDESTRIAN), x, y, yaw, v, length, width, height)
        for k, (aid, x, y, yaw, v, (length, width, height)) in enumerate(
            zip(pd_ids, pd_x, pd_y, pd_yaw, pd_v, pd_size, strict=True)
        )
    )
    out.extend(
        ActorState(aid, kind, x, y, yaw, 0.0, length, width, height, None, attrs)
        for aid, kind, (x, y, yaw, length, width), height, attrs in zip(
            pr_ids, pr_kinds, pr_boxes, pr_heights, pr_attrs, strict=True
        )
    )
    return tuple(out)
