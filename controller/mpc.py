"""Model-predictive control of speed and steering over the kinematic bicycle, solved as a QP by OSQP every tick.

One QP plans both axes over the horizon: progress s, speed v and acceleration a driven by jerk, and the lateral
offset e_y, heading error e_psi and front-wheel angle delta of the rear axle (where the kinematic bicycle has no
side slip) driven by the steering rate, relative to the reference path the meta-action controller builds. The
problem is linearised each tick about the previous plan (linear time-varying MPC): the lateral dynamics use the
speed the car is planned to have at each step, the path curvature where it is planned to be and the steering that
curvature needs (feed-forward), so braking into a turn is predicted as it will happen. The speed reference is read
at the planned position, so the car slows ahead of curves and stop points instead of reacting to them.

Hard bounds: steering angle and rate, acceleration and jerk (wider in an emergency). The stop point bounds where the
plan ends, softly (a slack penalised linearly and quadratically) so the QP stays feasible from any state. Speeds
stay non-negative through the cost (the speed reference never is) rather than by constraints: those made the QP
degenerate near standstill, where OSQP then needed ten times the iterations. `MPCWeights` trade tracking against
comfort. Each solve is warm-started from the previous plan shifted by one tick. A solve that fails or runs over
`time_budget_ms` returns None: the caller falls back to the PID law, and the fallback is counted by reason.

A disturbance observer (offset-free MPC) learns the gap between the acceleration the pedals were set for and the
measured one (rolling resistance, drag, the throttle's fall-off with speed) and adds it to the pedal command.

Why OSQP: the QP has a fixed sparsity, so after one setup each tick only updates numbers and re-solves warm; it is
a maintained C solver with a first-party Python API and wheels for every platform, needing no code generation or
compiler at run time (acados needs both) and no nonlinear solver per tick (CasADi's usual route, with IPOPT).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import osqp
from scipy import sparse

from controller.longitudinal import LongitudinalConfig
from controller.path import PathFrame
from sim.core import EgoState, wrap_angle

S, V, A, EY, EPSI, DELTA = range(6)  # state: m, m/s, m/s^2, m (left +), rad (left +), rad (left +)
J, DRATE = range(2)  # input: jerk m/s^3, steering rate rad/s
NX, NU = 6, 2
# At max_iter OSQP reports "solved inaccurate" when ten times the tolerance is met; such a plan is used (and counted).
_USABLE = (osqp.SolverStatus.OSQP_SOLVED, osqp.SolverStatus.OSQP_SOLVED_INACCURATE)
_BACK_M = 4.0  # the path is extended this far behind its start so the rear axle projects onto it
_OBSERVED_ABOVE_MPS = 1.0  # the observer learns above this speed; below, brakes and standstill hide the disturbance


@dataclass(frozen=True)
class MPCWeights:
    """Quadratic costs per step (the last step's state costs are multiplied by `terminal`)."""

    lateral: float = 4.0  # per m^2 of the box centre's offset from the path
    heading: float = 2.0  # per rad^2 of heading error
    speed: float = 4.0  # per (m/s)^2 off the speed profile
    accel: float = 0.2  # per (m/s^2)^2: comfort
    jerk: float = 0.3  # per (m/s^3)^2: comfort
    steer: float = 0.2  # per rad^2 away from the angle the path's curvature needs
    steer_rate: float = 4.0  # per (rad/s)^2: comfort
    terminal: float = 4.0
    slack_linear: float = 1000.0  # per metre the plan ends past the stop point
    slack_quadratic: float = 10000.0  # per m^2 of the same: ADMM converges slowly on a linear cost alone

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"mpc.weights.{name} must be a finite number >= 0, got {value}")


@dataclass(frozen=True)
class MPCConfig:
    horizon_steps: int = 30
    step_s: float = 0.1  # 3 s of preview at the defaults
    max_steer_rate: float = 0.7  # rad/s of the front wheels
    time_budget_ms: float = 10.0  # one tick's MPC (reference, update, solve); over it the PID command is used
    max_iter: int = 400  # OSQP iterations; a solve that needs more fails (and falls back)
    eps: float = 1e-3  # OSQP absolute and relative tolerance
    hold_speed: float = 0.02  # m/s below which a STOP holds the brake (the plan itself tapers to rest)
    observer_time_s: float = 1.0  # time constant of the disturbance observer; 0 switches it off
    max_disturbance: float = 1.5  # m/s^2, bound of the observer's estimate
    weights: MPCWeights = field(default_factory=MPCWeights)

    def __post_init__(self) -> None:
        for name in ("horizon_steps", "max_iter"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (2 if name == "horizon_steps" else 1):
                raise ValueError(
                    f"mpc.{name} must be an integer >= {2 if name == 'horizon_steps' else 1}, got {value!r}"
                )
        for name in ("step_s", "max_steer_rate", "time_budget_ms", "eps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"mpc.{name} must be a positive number, got {value}")
        for name in ("hold_speed", "observer_time_s", "max_disturbance"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"mpc.{name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class TrackingReference:
    """What the meta-action controller asks for this tick."""

    points: np.ndarray  # (N, 2) where the box centre should go, from its projection onwards
    speeds: np.ndarray  # (N,) m/s wanted at each point (limits, curves, target and stop already applied)
    stop_m: float = math.inf  # the box centre may travel at most this far along `points`
    emergency: bool = False  # a stop that needs more than comfort braking: the longitudinal emergency bounds


@dataclass(frozen=True)
class MPCCommand:
    accel: float  # m/s^2 the plan asks for now
    pedal_accel: float  # accel with the observed disturbance compensated: what the pedals should produce
    steer_angle: float  # rad, front wheels, positive left


@dataclass
class _Plan:
    """The last solution on its time grid (k * step_s), for the next linearisation and warm start."""

    states: np.ndarray  # (N + 1, NX)
    inputs: np.ndarray  # (N, NU)


class MPCController:
    def __init__(
        self, config: MPCConfig, longitudinal: LongitudinalConfig, wheelbase_m: float, max_steer_rad: float
    ) -> None:
        self.config, self.lon = config, longitudinal
        self.wheelbase, self.max_steer = wheelbase_m, max_steer_rad
        self.centre_m = wheelbase_m / 2.0  # box centre ahead of the rear axle
        n = config.horizon_steps
        self.times = np.arange(n + 1) * config.step_s
        self._build(n)
        self.reset()

    def reset(self) -> None:
        self._plan: _Plan | None = None
        self.accel = self.pedal_accel = 0.0  # what went to the car last tick (ours or the fallback's)
        self.steer_angle = 0.0
        self.disturbance = 0.0
        self._last_speed: float | None = None
        self.tick_ms: list[float] = []
        self.solve_ms: list[float] = []
        self.iterations: list[int] = []
        self.fallbacks = {"solver_failed": 0, "over_budget": 0}
        self.inaccurate = 0  # solves used although they met only OSQP's relaxed tolerance (10 x eps)
        self.last_failure: str | None = None

    # -- the QP's fixed structure -----------------------------------------------------------------------------------

    def _x(self, k: int, i: int) -> int:
        return k * NX + i

    def _u(self, k: int, i: int) -> int:
        return NX * (self.config.horizon_steps + 1) + k * NU + i

    def _build(self, n: int) -> None:
        self.slack = NX * (n + 1) + NU * n  # metres the plan ends past the stop point
        self.P = self._cost_matrix(n, self.slack + 1)
        self.A, self.a_pos = self._constraint_matrix(n, self.slack + 1)
        self.a_data = self.A.data.copy()
        m = self.A.shape[0]
        self.lower, self.upper = np.zeros(m), np.zeros(m)  # set each tick, but for the slack's own bound
        self.lower[-1], self.upper[-1] = 0.0, np.inf
        self.q = np.zeros(self.slack + 1)
        self.q[self.slack] = self.config.weights.slack_linear
        self.solver = osqp.OSQP()
        self.solver.setup(
            self.P,
            self.q,
            self.A,
            self.lower,
            self.upper,
            verbose=False,
            warm_starting=True,
            polishing=False,
            adaptive_rho_interval=25,  # by iterations: the default adapts by wall time, so replays would differ
            eps_abs=self.config.eps,
            eps_rel=self.config.eps,
            max_iter=self.config.max_iter,
            time_limit=self.config.time_budget_ms / 1000.0,
        )

    def _cost_matrix(self, n: int, nz: int) -> sparse.csc_matrix:
        """The quadratic costs (upper triangle, OSQP's 1/2 z'Pz convention); the linear terms change each tick."""
        w, lc = self.config.weights, self.centre_m
        entries = _Entries()
        for k in range(1, n + 1):
            m, x = (w.terminal if k == n else 1.0), self._x(k, 0)
            entries.put(x + V, x + V, 2 * m * w.speed)
            entries.put(x + A, x + A, 2 * m * w.accel)
            entries.put(x + EY, x + EY, 2 * m * w.lateral)  # (e_y + lc e_psi)^2 is the box centre's offset
            entries.put(x + EY, x + EPSI, 2 * m * w.lateral * lc)
            entries.put(x + EPSI, x + EPSI, 2 * m * (w.lateral * lc * lc + w.heading))
            entries.put(x + DELTA, x + DELTA, 2 * m * w.steer)
        for k in range(n):
            entries.put(self._u(k, J), self._u(k, J), 2 * w.jerk)
            entries.put(self._u(k, DRATE), self._u(k, DRATE), 2 * w.steer_rate)
        entries.put(self.slack, self.slack, 2 * w.slack_quadratic)
        return entries.csc((nz, nz))[0]

    def _constraint_matrix(self, n: int, nz: int) -> tuple[sparse.csc_matrix, dict[str, np.ndarray]]:
        """Rows: x_0 = measured state; dynamics x_{k+1} - A_k x_k - B_k u_k = c_k; acceleration and steering bounds
        on x_1..x_n; jerk and steering-rate bounds on u_0..u_{n-1}; s_n - slack <= stop; slack >= 0. The entries
        that depend on the linearisation are tagged, to be rewritten each tick."""
        h = self.config.step_s
        e = _Entries()
        for i in range(NX):
            e.put(i, self._x(0, i), 1.0)
        self.dyn_row = row = NX
        for k in range(n):
            r, x0, x1, u = row + k * NX, self._x(k, 0), self._x(k + 1, 0), self._u(k, 0)
            for i in range(NX):
                e.put(r + i, x1 + i, 1.0)
                e.put(r + i, x0 + i, -1.0)
            e.put(r + S, x0 + V, -h)
            e.put(r + S, x0 + A, -h * h / 2)
            e.put(r + S, u + J, -(h**3) / 6)
            e.put(r + V, x0 + A, -h)
            e.put(r + V, u + J, -h * h / 2)
            e.put(r + A, u + J, -h)
            e.put(r + EY, x0 + EPSI, -1.0, "ey_epsi")  # -h v_k
            e.put(r + EY, x0 + DELTA, -1.0, "ey_delta")  # -h^2/2 v_k b_k
            e.put(r + EPSI, x0 + DELTA, -1.0, "epsi_delta")  # -h b_k
            e.put(r + DELTA, u + DRATE, -h)
        self.box_row = row = row + NX * n
        for k in range(1, n + 1):
            e.put(row, self._x(k, A), 1.0)
            e.put(row + 1, self._x(k, DELTA), 1.0)
            row += 2
        self.input_row = row
        for k in range(n):
            e.put(row, self._u(k, J), 1.0)
            e.put(row + 1, self._u(k, DRATE), 1.0)
            row += 2
        self.stop_row = row
        e.put(row, self._x(n, S), 1.0)
        e.put(row, self.slack, -1.0)
        e.put(row + 1, self.slack, 1.0)
        return e.csc((row + 2, nz))

    # -- every tick -------------------------------------------------------------------------------------------------

    def step(self, ego: EgoState, ref: TrackingReference, dt: float) -> MPCCommand | None:
        """The command for this tick, or None when the solver failed or ran over budget (`last_failure` says which,
        `fallbacks` counts it). Call `applied` afterwards with what went to the car."""
        started = time.perf_counter()
        self._observe(ego.speed, dt)
        result = self._solve(ego, ref, dt, started)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        self.tick_ms.append(elapsed_ms)
        if result is not None and elapsed_ms > self.config.time_budget_ms:
            result, self.last_failure = None, "over_budget"
        if result is None:
            self.fallbacks[self.last_failure or "solver_failed"] += 1
            self._plan = None
            return None
        self.last_failure = None
        self._plan, accel, steer = result
        fade = min(1.0, max(ego.speed, 0.0) / _OBSERVED_ABOVE_MPS)  # resistance fades as the car comes to rest
        return MPCCommand(accel, accel - self.disturbance * fade, steer)

    def applied(self, accel: float, pedal_accel: float, steer_angle: float) -> None:
        """What the car was given this tick: the intended acceleration (m/s^2, the next plan starts from it), the
        acceleration the pedals were set for (the observer compares it with the measured one) and the wheel angle."""
        self.accel, self.pedal_accel = float(accel), float(pedal_accel)
        self.steer_angle = float(np.clip(steer_angle, -self.max_steer, self.max_steer))

    def _observe(self, speed: float, dt: float) -> None:
        """Low-pass estimate of (measured - pedal) acceleration; frozen near standstill, where brakes hide it."""
        cfg = self.config
        last, self._last_speed = self._last_speed, speed
        if last is None or cfg.observer_time_s <= 0 or min(last, speed) < _OBSERVED_ABOVE_MPS or dt <= 0:
            return
        measured = (speed - last) / dt
        gain = min(1.0, dt / cfg.observer_time_s)
        d = self.disturbance + gain * (measured - self.pedal_accel - self.disturbance)
        self.disturbance = float(np.clip(d, -cfg.max_disturbance, cfg.max_disturbance))

    def _solve(
        self, ego: EgoState, ref: TrackingReference, dt: float, started: float
    ) -> tuple[_Plan, float, float] | None:
        cfg, lon, n, h, lc = self.config, self.lon, self.config.horizon_steps, self.config.step_s, self.centre_m
        self.last_failure = "solver_failed"
        geometry = PathFrame.of(ref.points, _BACK_M)
        if geometry is None:
            return None
        rx, ry = ego.x - lc * math.cos(ego.yaw), ego.y - lc * math.sin(ego.yaw)
        s_rear, ey0, path_yaw = geometry.project(rx, ry)
        heading_error = wrap_angle(ego.yaw - path_yaw)
        x0 = np.array([s_rear + lc, max(ego.speed, 0.0), self.accel, ey0, heading_error, self.steer_angle])
        if x0[V] < 0.05:
            x0[A] = max(x0[A], 0.0)  # at rest, braking does not decelerate

        v_bar, s_bar = self._linearisation(x0, dt)  # (n,) speeds over each step, (n + 1,) centre positions
        delta_ff = np.arctan(self.wheelbase * geometry.curvature_at(s_bar - lc))  # the rear axle's curvature
        v_k, ff_k = v_bar, delta_ff[:n]
        b = v_k / self.wheelbase / np.cos(ff_k) ** 2  # d(yaw rate)/d(delta) about the feed-forward angle
        data = self.a_data.copy()
        data[self.a_pos["ey_epsi"]] = -h * v_k
        data[self.a_pos["ey_delta"]] = -h * h / 2 * v_k * b
        data[self.a_pos["epsi_delta"]] = -h * b
        lo, hi, q = self.lower.copy(), self.upper.copy(), self.q.copy()
        lo[:NX] = hi[:NX] = x0
        c = np.zeros((n, NX))
        c[:, EY] = -h * h / 2 * v_k * b * ff_k
        c[:, EPSI] = -h * b * ff_k
        lo[self.dyn_row : self.box_row] = hi[self.dyn_row : self.box_row] = c.ravel()

        jerk = lon.max_jerk * (lon.emergency_jerk_scale if ref.emergency else 1.0)
        a_low = -lon.max_decel if ref.emergency else -lon.comfort_decel
        reach = np.arange(1, n + 1) * h * jerk  # bounds relaxed where the current acceleration cannot reach them
        box = self.box_row + 2 * np.arange(n)
        lo[box] = np.minimum(a_low, x0[A] + reach)
        hi[box] = np.maximum(lon.max_accel, x0[A] - reach)
        lo[box + 1], hi[box + 1] = -self.max_steer, self.max_steer
        lo[self.stop_row], hi[self.stop_row] = -np.inf, ref.stop_m
        inputs = self.input_row + 2 * np.arange(n)
        lo[inputs], hi[inputs] = -jerk, jerk
        lo[inputs + 1], hi[inputs + 1] = -cfg.max_steer_rate, cfg.max_steer_rate

        dist = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(ref.points, axis=0).T))])
        v_ref = np.interp(s_bar[1:], dist, ref.speeds)
        w = cfg.weights
        m = np.ones(n)
        m[-1] = w.terminal
        idx = np.arange(1, n + 1) * NX
        q[idx + V] = -2 * m * w.speed * v_ref
        q[idx + DELTA] = -2 * m * w.steer * delta_ff[1:]

        remaining = cfg.time_budget_ms / 1000.0 - (time.perf_counter() - started)
        if remaining <= 0:
            self.last_failure = "over_budget"
            return None
        self.solver.update(q=q, l=lo, u=hi, Ax=data)
        self.solver.update_settings(time_limit=remaining)
        self.solver.warm_start(x=self._warm_start(x0, s_bar, dt))
        res = self.solver.solve(raise_error=False)
        self.solve_ms.append(float(res.info.solve_time) * 1000.0)
        self.iterations.append(int(res.info.iter))
        status = res.info.status_val
        if status == osqp.SolverStatus.OSQP_TIME_LIMIT_REACHED:
            self.last_failure = "over_budget"
        if status not in _USABLE or not np.all(np.isfinite(res.x)):
            return None
        self.inaccurate += int(status == osqp.SolverStatus.OSQP_SOLVED_INACCURATE)
        z = np.array(res.x)
        states = z[: NX * (n + 1)].reshape(n + 1, NX)
        plan_inputs = z[NX * (n + 1) : NX * (n + 1) + NU * n].reshape(n, NU)
        # OSQP meets the bounds to its tolerance only: the move applied now is put exactly within them
        jerk_now = float(np.clip(plan_inputs[0, J], -jerk, jerk))
        rate_now = float(np.clip(plan_inputs[0, DRATE], -cfg.max_steer_rate, cfg.max_steer_rate))
        accel = float(np.clip(x0[A] + jerk_now * dt, lo[box[0]], hi[box[0]]))
        steer = float(np.clip(x0[DELTA] + rate_now * dt, -self.max_steer, self.max_steer))
        return _Plan(states, plan_inputs), accel, steer

    def _linearisation(self, x0: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """Speeds over each step and positions (box centre along the path) to linearise about: the last plan one
        tick on, else the current speed held."""
        n, h = self.config.horizon_steps, self.config.step_s
        if self._plan is None:
            v_bar = np.full(n + 1, x0[V])
        else:
            v_bar = np.interp(self.times + dt, self.times, self._plan.states[:, V])
            v_bar[0] = x0[V]
        v_bar = np.maximum(v_bar, 0.0)
        s_bar = x0[S] + np.concatenate([[0.0], np.cumsum(0.5 * (v_bar[1:] + v_bar[:-1]) * h)])
        return v_bar[:n], s_bar

    def _warm_start(self, x0: np.ndarray, s_bar: np.ndarray, dt: float) -> np.ndarray:
        """The last plan's states one tick on (positions re-based on the new path) and its inputs, or the current
        state held."""
        n = self.config.horizon_steps
        z = np.zeros(self.slack + 1)
        states = z[: NX * (n + 1)].reshape(n + 1, NX)
        if self._plan is None:
            states[:] = x0
        else:
            t = self.times + dt
            for i in (V, A, EY, EPSI, DELTA):
                states[:, i] = np.interp(t, self.times, self._plan.states[:, i])
            z[NX * (n + 1) : self.slack] = self._plan.inputs.ravel()
        states[:, S] = s_bar
        states[0] = x0
        return z

    # -- what results.json reports ----------------------------------------------------------------------------------

    def report(self) -> dict[str, object]:
        return {
            "ticks": len(self.tick_ms),
            "fallbacks": dict(self.fallbacks),
            "fallback_total": sum(self.fallbacks.values()),
            "inaccurate": self.inaccurate,
            "tick_ms": _percentiles(self.tick_ms),
            "solve_ms": _percentiles(self.solve_ms),
            "iterations_mean": round(float(np.mean(self.iterations)), 2) if self.iterations else 0.0,
            "disturbance_mps2": round(self.disturbance, 3),
        }


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    arr = np.asarray(values)
    return {
        "p50": round(float(np.percentile(arr, 50)), 4),
        "p99": round(float(np.percentile(arr, 99)), 4),
        "max": round(float(arr.max()), 4),
    }


class _Entries:
    """Sparse matrix entries put one by one, some tagged so their place in the CSC data array can be found again."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.tags: dict[str, list[int]] = {}

    def put(self, row: int, col: int, value: float, tag: str | None = None) -> None:
        if tag is not None:
            self.tags.setdefault(tag, []).append(len(self.vals))
        self.rows.append(row)
        self.cols.append(col)
        self.vals.append(value)

    def csc(self, shape: tuple[int, int]) -> tuple[sparse.csc_matrix, dict[str, np.ndarray]]:
        """The matrix, and for each tag the CSC data positions of its entries (no (row, col) may repeat)."""
        ids = np.arange(1, len(self.vals) + 1, dtype=np.float64)
        matrix = sparse.coo_matrix((ids, (self.rows, self.cols)), shape=shape).tocsc()
        position = np.empty(len(self.vals), dtype=np.int64)
        position[matrix.data.astype(np.int64) - 1] = np.arange(len(self.vals))
        matrix.data[position] = self.vals
        return matrix, {tag: position[np.asarray(idx)] for tag, idx in self.tags.items()}
