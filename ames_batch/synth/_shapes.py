"""Cell outlines, body heights and nuclei: a rough superellipse in the cell's own frame.

The cell frame has ``u`` along the long axis and ``v`` across it, both in µm from
the cell centre. A point's *normalised radius* ``rho`` is 0 at the centre and 1 on
the outline; the body is ``height_um * (1 - rho**q) ** 0.5`` thick there, plus a dome of
``nucleus_height_um`` over the nucleus, an ellipse near the centre along the long axis.
"""

import numpy as np

from ._params import CellParams

__all__ = ["Outline", "cell_outline"]

_ORDERS = np.arange(3, 9)  # outline harmonics; order 2 would change the aspect and axis
_NUCLEUS_FLOOR_UM = 0.4  # cytoplasm under the nucleus
_NUCLEUS_COVER_UM = 0.5  # cytoplasm over it
_NUCLEUS_MAX_UM = 4.0  # the nucleus's own thickness at most; a thicker body holds cytoplasm above it


class Outline:
    """Outline of one cell: harmonic coefficients drawn from its `detail_seed`.

    Parameters
    ----------
    params : CellParams
        The cell.
    """

    def __init__(self, params: CellParams):
        rng = np.random.default_rng([params.detail_seed, 1])
        amp = rng.standard_normal(_ORDERS.size) * params.roughness / np.sqrt(_ORDERS - 2.0)
        amp[:4] += params.polygonality * rng.uniform(0.3, 1.0, 4) * rng.choice([-1, 1], 4)
        # at most 30 % total excursion, so the outline stays star-shaped and the axis clear
        total = np.abs(amp).sum()
        if total > 0.3:
            amp *= 0.3 / total
        self.params = params
        self.amp = amp
        self.phase = rng.uniform(0, 2 * np.pi, _ORDERS.size)
        self.half_length_um = params.length_um / 2
        self.half_width_um = params.width_um / 2
        self.nucleus_centre_uv = (rng.uniform(-0.15, 0.15) * self.half_length_um,
                                  rng.uniform(-0.15, 0.15) * self.half_width_um)
        a = min(rng.uniform(5.0, 8.0), 0.45 * self.half_length_um)
        self.nucleus_axes_um = (a, min(rng.uniform(3.5, 5.5), 0.6 * self.half_width_um, a))
        self.exponent = params.shape_exponent
        # harmonics tilt the mask's principal axis a little: turn the outline back so
        # that its second moments put the long axis exactly at `long_axis_deg`
        self.turn = 0.0
        r = 1.35 * self.half_length_um
        g = np.linspace(-r, r, 241)
        gu, gv = np.meshgrid(g, g, indexing="xy")
        inside = self.rho(gu, gv) <= 1.0
        du, dv = gu[inside], gv[inside]
        du, dv = du - du.mean(), dv - dv.mean()
        self.turn = 0.5 * np.arctan2(2 * (du * dv).mean(), (du * du).mean() - (dv * dv).mean())

    def _shape_frame(self, u, v):
        c, s = np.cos(self.turn), np.sin(self.turn)
        return u * c - v * s, u * s + v * c

    def rho(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Normalised radius at cell-frame points ``(u, v)`` in µm (1 on the outline)."""
        u, v = self._shape_frame(u, v)
        n = self.exponent
        base = (np.abs(u / self.half_length_um) ** n + np.abs(v / self.half_width_um) ** n) ** (1 / n)
        phi = np.arctan2(v, u)
        wobble = 1.0 + np.sum(
            self.amp[:, None] * np.cos(_ORDERS[:, None] * phi.ravel()[None, :] + self.phase[:, None]),
            axis=0,
        ).reshape(phi.shape)
        return (base / wobble).astype(np.float32)

    def nucleus_dome(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """``sqrt(1 - r**2)`` of the nucleus ellipse at cell-frame points (µm); 0 outside it."""
        du = (u - self.nucleus_centre_uv[0]) / self.nucleus_axes_um[0]
        dv = (v - self.nucleus_centre_uv[1]) / self.nucleus_axes_um[1]
        return np.sqrt(np.clip(1.0 - du * du - dv * dv, 0.0, None)).astype(np.float32)

    def thickness(self, u: np.ndarray, v: np.ndarray, rho: np.ndarray) -> np.ndarray:
        """Body thickness (µm) at cell-frame points with normalised radius `rho`; 0 outside."""
        q = max(2.0, self.exponent)
        inside = np.clip(1.0 - np.asarray(rho, np.float32) ** q, 0.0, None)
        bulge = self.params.nucleus_height_um * self.nucleus_dome(u, v) * (inside > 0)
        return (self.params.height_um * np.sqrt(inside) + bulge).astype(np.float32)

    def nucleus_span(self, u: np.ndarray, v: np.ndarray, thickness_um: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bottom and top (µm above the base) of the nucleus; ``top <= bottom`` where there is none.

        The nucleus sits on a thin layer of cytoplasm, stays under a cover of it and is at most
        4 µm thick.
        """
        bottom = np.full(np.shape(u), _NUCLEUS_FLOOR_UM, np.float32)
        room = np.clip(thickness_um - _NUCLEUS_COVER_UM - _NUCLEUS_FLOOR_UM, 0.0, _NUCLEUS_MAX_UM)
        return bottom, (bottom + room * self.nucleus_dome(u, v)).astype(np.float32)

    def polygon_um(self, n_points: int = 360) -> np.ndarray:
        """Outline as ``(n_points, 2)`` array of cell-frame ``(u, v)`` points in µm."""
        phi = np.linspace(0, 2 * np.pi, n_points, endpoint=False)
        n = self.exponent
        base = (np.abs(np.cos(phi) / self.half_length_um) ** n
                + np.abs(np.sin(phi) / self.half_width_um) ** n) ** (-1 / n)
        wobble = 1.0 + np.sum(self.amp[:, None] * np.cos(_ORDERS[:, None] * phi + self.phase[:, None]), axis=0)
        r = base * wobble
        c, s = np.cos(self.turn), np.sin(self.turn)
        us, vs = r * np.cos(phi), r * np.sin(phi)
        return np.stack([us * c + vs * s, -us * s + vs * c], axis=1)

    def field_polygon_um(self, centre_yx_um: tuple[float, float]) -> np.ndarray:
        """Outline in field coordinates: ``(n, 2)`` array of ``(y, x)`` in µm."""
        uv = self.polygon_um()
        th = np.deg2rad(self.params.long_axis_deg)
        x = centre_yx_um[1] + uv[:, 0] * np.cos(th) - uv[:, 1] * np.sin(th)
        y = centre_yx_um[0] + uv[:, 0] * np.sin(th) + uv[:, 1] * np.cos(th)
        return np.stack([y, x], axis=1)

    def to_cell_frame(self, y_um: np.ndarray, x_um: np.ndarray,
                      centre_yx_um: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
        """Field points (µm) to cell-frame ``(u, v)`` (µm)."""
        th = np.deg2rad(self.params.long_axis_deg)
        dx = x_um - centre_yx_um[1]
        dy = y_um - centre_yx_um[0]
        return dx * np.cos(th) + dy * np.sin(th), -dx * np.sin(th) + dy * np.cos(th)


def cell_outline(params: CellParams) -> Outline:
    """The :class:`Outline` of a cell (deterministic in ``params.detail_seed``)."""
    return Outline(params)
