"""A small OpenDRIVE town for tests: a T-junction that `carla.Map(name, xodr)` parses client-side (no server).

In OpenDRIVE (= our frame): road 1 runs east from (0, 0) to the junction at x = 100, road 2 continues east from
x = 120, road 3 leaves north from (110, 10). Right-hand traffic: negative lanes drive along a road's direction.
Connecting roads: 4 straight (1 <-> 2), 5 (1 -> 3 left turn; 3 -> 1 right turn), 6 (2 -> 3 right; 3 -> 2 left).
`lanes` per direction (1 or 2); `split_road_1` cuts road 1 into two lane sections at s = 50; with
`left_from_inner_only`, the left-turn connector (road 5) has one lane each way: only road 1's inner lane turns left.
"""

from __future__ import annotations

import math

R = 10.0  # radius of the turn connectors' reference lines
ARC = math.pi / 2 * R
W = 3.5


def _lane(lane_id: int, pred: int | None = None, succ: int | None = None) -> str:
    link = (f'<predecessor id="{pred}"/>' if pred else "") + (f'<successor id="{succ}"/>' if succ else "")
    return (
        f'<lane id="{lane_id}" type="driving" level="false"><link>{link}</link>'
        f'<width sOffset="0" a="{W}" b="0" c="0" d="0"/><roadMark sOffset="0" type="broken" color="standard"/></lane>'
    )


def _section(s: float, lanes: int, links: dict[int, tuple[int | None, int | None]] | None = None) -> str:
    links = links or {}
    left = "".join(_lane(i, *links.get(i, (None, None))) for i in range(lanes, 0, -1))
    right = "".join(_lane(-i, *links.get(-i, (None, None))) for i in range(1, lanes + 1))
    return (
        f'<laneSection s="{s}"><left>{left}</left><center><lane id="0" type="none" level="false">'
        f'<roadMark sOffset="0" type="solid" color="yellow"/></lane></center><right>{right}</right></laneSection>'
    )


def _geometry(x: float, y: float, hdg: float, length: float, curvature: float = 0.0) -> str:
    shape = f'<arc curvature="{curvature}"/>' if curvature else "<line/>"
    return f'<geometry s="0" x="{x}" y="{y}" hdg="{hdg}" length="{length}">{shape}</geometry>'


def _road(rid: int, length: float, geometry: str, sections: str, junction: int = -1, link: str = "") -> str:
    return (
        f'<road name="r{rid}" length="{length}" id="{rid}" junction="{junction}"><link>{link}</link>'
        f"<planView>{geometry}</planView><lanes>{sections}</lanes></road>"
    )


def _pred_succ(pred: str, succ: str) -> str:
    return pred.replace("X", "predecessor") + succ.replace("X", "successor")


def t_junction_xodr(
    lanes: int = 1, split_road_1: bool = False, left_from_inner_only: bool = False, arm: float = 100.0
) -> str:
    ids = range(1, lanes + 1)
    same = {s * i: (s * i, s * i) for i in ids for s in (1, -1)}  # connector lane k links to lane k both ends
    road6 = {**{-i: (i, -i) for i in ids}, **{i: (-i, i) for i in ids}}  # starts at road 2's start
    if split_road_1:
        first = {s * i: (None, s * i) for i in ids for s in (1, -1)}
        second = {s * i: (s * i, None) for i in ids for s in (1, -1)}
        road1_sections = _section(0, lanes, first) + _section(arm / 2, lanes, second)
    else:
        road1_sections = _section(0, lanes)
    to_junction = '<X elementType="junction" elementId="100"/>'
    roads = [
        _road(1, arm, _geometry(0, 0, 0, arm), road1_sections, link=to_junction.replace("X", "successor")),
        _road(2, arm, _geometry(120, 0, 0, arm), _section(0, lanes), link=to_junction.replace("X", "predecessor")),
        _road(
            3,
            arm,
            _geometry(110, R, math.pi / 2, arm),
            _section(0, lanes),
            link=to_junction.replace("X", "predecessor"),
        ),
        _road(
            4,
            20.0,
            _geometry(100, 0, 0, 20.0),
            _section(0, lanes, same),
            100,
            _pred_succ(
                '<X elementType="road" elementId="1" contactPoint="end"/>',
                '<X elementType="road" elementId="2" contactPoint="start"/>',
            ),
        ),
        _road(
            5,
            ARC,
            _geometry(100, 0, 0, ARC, 1 / R),
            _section(0, 1 if left_from_inner_only else lanes, same),
            100,
            _pred_succ(
                '<X elementType="road" elementId="1" contactPoint="end"/>',
                '<X elementType="road" elementId="3" contactPoint="start"/>',
            ),
        ),
        _road(
            6,
            ARC,
            _geometry(120, 0, math.pi, ARC, -1 / R),
            _section(0, lanes, road6),
            100,
            _pred_succ(
                '<X elementType="road" elementId="2" contactPoint="start"/>',
                '<X elementType="road" elementId="3" contactPoint="start"/>',
            ),
        ),
    ]
    connections = [
        (1, 4, "start", -1),
        (2, 4, "end", 1),
        (1, 5, "start", -1),
        (3, 5, "end", 1),
        (2, 6, "start", 0),
        (3, 6, "end", 1),
    ]
    body = ""
    for n, (incoming, connecting, contact, sign) in enumerate(connections):
        pairs = [(i, -i) for i in ids] if sign == 0 else [(sign * i, sign * i) for i in ids]
        if left_from_inner_only and (incoming, connecting) == (1, 5):
            pairs = pairs[:1]
        links = "".join(f'<laneLink from="{a}" to="{b}"/>' for a, b in pairs)
        attrs = f'id="{n}" incomingRoad="{incoming}" connectingRoad="{connecting}" contactPoint="{contact}"'
        body += f"<connection {attrs}>{links}</connection>"
    header = (
        '<header revMajor="1" revMinor="4" name="TJ" version="1.00"><geoReference><![CDATA[+proj=tmerc +lat_0=0 '
        "+lon_0=0 +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs]]></geoReference></header>"
    )
    junction = f'<junction id="100" name="j">{body}</junction>'
    return f'<?xml version="1.0" standalone="yes"?>\n<OpenDRIVE>{header}{"".join(roads)}{junction}</OpenDRIVE>'
