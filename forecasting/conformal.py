"""Conformal margins of the data-driven forecaster's intervals, per lead band and weather regime.

A calibration row is one forecast of the history that models which never saw its day scored:
its score s = max(lower − y, y − upper) is how far the actual value y fell outside the interval
(negative inside). The margin m of a group of rows is the (1 + 1/n)·80 % quantile of their scores,
and [lower − m, upper + m] covers ~80 % of new rows of that group (split conformal, Romano et al.,
NeurIPS 2019). The groups (Mondrian conformal prediction, Vovk et al. 2005):

- lead bands: each quarter hour up to 1 h, then (1, 2], (2, 4], (4, 8], (8, 16] h and beyond (at
  hourly steps the 1 h and 2 h leads have a band each; the error of a weather forecast grows
  fastest at short leads, while the quantile models hardly tell a 1 h lead from a 2 h one: pooled,
  the 1 h interval was too wide and the 2 h one too narrow);
- within a band, optionally a regime: a value known when the forecast is issued (for PV the weather
  service's forecast clear-sky index at the target), cut into `bins` bins at the quantiles of the
  calibration rows' regimes. A bin with fewer than `min_bin_scores` scores or fewer than
  `min_bin_days` distinct target days (days of one weather miss together: a bin holding three
  days has three samples, not hundreds) takes its band's pooled margin; a band with fewer than
  `MIN_BAND_SCORES` scores takes the margin pooled over every lead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

COVERAGE = 0.8
LEAD_BANDS_H = (0.25, 0.5, 0.75, 1.0, 2.0, 4.0, 8.0, 16.0)  # upper edges (h); leads beyond: the last band
MIN_BAND_SCORES = 20
REGIME_BINS = 3
MIN_BIN_SCORES = 200
MIN_BIN_DAYS = 10


def conformal_margin(scores: np.ndarray, coverage: float = COVERAGE) -> float:
    """The (1 + 1/n)·coverage quantile of `scores` (the split-conformal margin)."""
    level = min(1.0, coverage * (1.0 + 1.0 / scores.size))
    return float(np.quantile(scores, level))


def lead_band(lead_h: np.ndarray) -> np.ndarray:
    """Index of each lead's band (`LEAD_BANDS_H`: a lead equal to an edge belongs to the band below)."""
    result: np.ndarray = np.searchsorted(np.asarray(LEAD_BANDS_H), np.asarray(lead_h) - 1e-9, side="left")
    return result


@dataclass(frozen=True)
class Margins:
    """Conformal margins per lead band (rows) and regime bin (columns); `edges` cut the regime into
    the bins (empty: one bin); `own[b, r]` whether the cell has its own margin (else its band's
    pooled one, or the margin over every lead)."""

    table: np.ndarray = field(default_factory=lambda: np.zeros((len(LEAD_BANDS_H) + 1, 1)))
    edges: np.ndarray = field(default_factory=lambda: np.zeros(0))
    own: np.ndarray = field(default_factory=lambda: np.zeros((len(LEAD_BANDS_H) + 1, 1), dtype=bool))

    @classmethod
    def calibrate(cls, score: np.ndarray, lead_h: np.ndarray, day: np.ndarray,
                  regime: np.ndarray | None = None, bins: int = REGIME_BINS,
                  min_bin_scores: int = MIN_BIN_SCORES, min_bin_days: int = MIN_BIN_DAYS,
                  coverage: float = COVERAGE) -> Margins:
        """Margins from calibration rows: their scores, leads (h), target days and regimes (None:
        pooled over regimes)."""
        n_bands = len(LEAD_BANDS_H) + 1
        if score.size == 0:
            return cls()
        overall = conformal_margin(score, coverage)
        if regime is None or bins <= 1:
            edges = np.zeros(0)
        else:
            edges = np.unique(np.quantile(regime, np.arange(1, bins) / bins))
        n_bins = edges.size + 1
        table = np.full((n_bands, n_bins), overall)
        own = np.zeros((n_bands, n_bins), dtype=bool)
        band = lead_band(lead_h)
        cell = np.zeros(score.size, dtype=int)
        if regime is not None:
            cell = np.searchsorted(edges, regime, side="right")
        for b in range(n_bands):
            in_band = band == b
            if np.count_nonzero(in_band) < MIN_BAND_SCORES:
                continue
            table[b, :] = conformal_margin(score[in_band], coverage)
            if n_bins == 1:
                own[b, 0] = True
                continue
            for r in range(n_bins):
                pick = in_band & (cell == r)
                if np.count_nonzero(pick) >= min_bin_scores and np.unique(day[pick]).size >= min_bin_days:
                    table[b, r] = conformal_margin(score[pick], coverage)
                    own[b, r] = True
        return cls(table, edges, own)

    def __call__(self, lead_h: np.ndarray, regime: np.ndarray | None = None) -> np.ndarray:
        """The margin of each forecast row (its lead in hours and, with bins, its regime)."""
        band = lead_band(lead_h)
        if regime is None or self.edges.size == 0:
            result: np.ndarray = self.table[band, 0]
            return result
        by_bin: np.ndarray = self.table[band, np.searchsorted(self.edges, regime, side="right")]
        return by_bin
