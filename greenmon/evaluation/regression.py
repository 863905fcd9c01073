"""Ordinary least squares with the statistics ISO 50006 / ASHRAE Guideline 14 ask for. Pure.

Solved through a QR decomposition of the design matrix (intercept first); the
coefficients' standard errors from s^2 (X'X)^-1 with s^2 = SSE / (n - p), their
two-sided p-values from Student's t with n - p degrees of freedom.

* R^2 = 1 - SSE/SST; adjusted R^2 = 1 - (1 - R^2)(n - 1)/(n - p)
* CV(RMSE) = sqrt(SSE / (n - p)) / mean(y)
* NMBE = sum(y - yhat) / ((n - p) * mean(y))

(p counts the intercept.) With an intercept the residuals sum to zero, so NMBE is zero up
to rounding on the data the model was fitted to; it is still computed and judged, as
Guideline 14 asks, and matters for a model checked on other data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from greenmon.errors import InvalidInput

INTERCEPT = "intercept"


@dataclass(frozen=True, slots=True)
class Coefficient:
    name: str
    value: float
    std_error: float
    t: float
    p_value: float


@dataclass(frozen=True, slots=True)
class Fit:
    n: int
    p: int
    coefficients: tuple[Coefficient, ...]
    sse: float
    r2: float
    adj_r2: float
    cv_rmse: float
    nmbe: float
    mean_y: float

    def coefficient(self, name: str) -> float:
        return next(c.value for c in self.coefficients if c.name == name)

    def predict(self, x: Mapping[str, float]) -> float:
        return sum(c.value * (1.0 if c.name == INTERCEPT else x[c.name])
                   for c in self.coefficients)  # fmt: skip


def ols(y: Sequence[float], columns: Mapping[str, Sequence[float]]) -> Fit:
    """Fit y = b0 + sum(b_j * x_j); InvalidInput when it cannot be fitted soundly."""
    n, p = len(y), len(columns) + 1
    if n <= p:
        raise InvalidInput(f"{n} observations cannot fit {p} coefficients (need more than {p})")
    for name, col in columns.items():
        if len(col) != n:
            raise InvalidInput(f"column {name} has {len(col)} values, y has {n}")
    yv = np.asarray(y, dtype=float)
    x = np.column_stack([np.ones(n), *(np.asarray(c, dtype=float) for c in columns.values())])
    q, r = np.linalg.qr(x)
    diag = np.abs(np.diag(r))
    if diag.min() <= 1e-9 * max(diag.max(), 1.0):
        raise InvalidInput(
            "the variables are constant or collinear over the period "
            f"({', '.join(columns)}): the model cannot separate their effects"
        )
    beta = np.linalg.solve(r, q.T @ yv)
    resid = yv - x @ beta
    sse = float(resid @ resid)
    mean_y = float(yv.mean())
    sst = float(((yv - mean_y) ** 2).sum())
    if sst <= 0 or mean_y == 0:
        raise InvalidInput("the energy does not vary (or averages zero) over the period")
    dof = n - p
    s2 = sse / dof
    r_inv = np.linalg.inv(r)
    se = np.sqrt(s2 * np.sum(r_inv**2, axis=1))  # diag((R'R)^-1) = row sums of R^-1 squared
    names = (INTERCEPT, *columns)
    coefs = []
    for name, b, e in zip(names, beta, se, strict=True):
        t = float(b / e) if e > 0 else math.inf
        pv = float(2 * sps.t.sf(abs(t), dof)) if e > 0 else 0.0
        coefs.append(Coefficient(name, float(b), float(e), t, pv))
    r2 = 1 - sse / sst
    return Fit(
        n=n,
        p=p,
        coefficients=tuple(coefs),
        sse=sse,
        r2=r2,
        adj_r2=1 - (1 - r2) * (n - 1) / dof,
        cv_rmse=math.sqrt(s2) / mean_y,
        nmbe=float(resid.sum()) / (dof * mean_y),
        mean_y=mean_y,
    )
