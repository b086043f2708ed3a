"""The observed (gold-path) part of the linear-chain CRF gradient: gold scores, log-likelihoods and
observed counts; the expected part comes from the posteriors kernel."""
from __future__ import annotations

from numba import njit, prange

from ._common import NEG_INF


@njit(cache=True, nogil=True, parallel=True)
def _crf_observed(start, trans, end, em, tags, seq_start, seq_len, logz, llh, g_em, obs_chunks):
    """Gold scores, llh = gold - logz, g_em = onehot - gamma (in place), observed counts per chunk
    (obs_chunks [n_chunks, N + 2, N]: rows 0..N-1 transitions, row N start, row N + 1 end);
    sequences with logz = -inf get llh = -inf and no gradient."""
    S = seq_len.shape[0]
    N = start.shape[0]
    n_chunks = obs_chunks.shape[0]
    for c in prange(n_chunks):
        for s in range(c, S, n_chunks):
            r0 = seq_start[s]
            L = seq_len[s]
            if logz[s] == NEG_INF:
                llh[s] = NEG_INF
                for t in range(L):
                    for j in range(N):
                        g_em[r0 + t, j] = 0.0
                continue
            y0 = tags[r0]
            gold = start[y0] + em[r0, y0]
            g_em[r0, y0] += 1.0
            obs_chunks[c, N, y0] += 1.0
            for t in range(1, L):
                y = tags[r0 + t]
                yp = tags[r0 + t - 1]
                gold += trans[yp, y] + em[r0 + t, y]
                g_em[r0 + t, y] += 1.0
                obs_chunks[c, yp, y] += 1.0
            yl = tags[r0 + L - 1]
            gold += end[yl]
            obs_chunks[c, N + 1, yl] += 1.0
            llh[s] = gold - logz[s]
