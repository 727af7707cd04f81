#!/usr/bin/env python3
"""SparseGPT for one layer, written from the paper (Frantar & Alistarh, 2023, Algorithm 1),
in NumPy float64: the independent reference Ember's solver is checked against.

    python3 scripts/sparsegpt_reference.py problem.json solution.json

problem.json: {"outputs", "inputs", "weight" (row-major [out, in]), "gram" (row-major XᵀX),
"rows", "sparsity", "structure" ("unstructured", "per_output" or "N:M"), "block_size",
"dampening"}. solution.json: {"pruned": [0/1, ...], "weight": [...]} in the same layout.

Counts follow Ember's rule (the paper leaves it open): unstructured, the block ending at
element e (counting whole columns of all rows) brings the pruned total to round(s * e), half
away from zero (NumPy's round goes to even, so the rule is written out in prune_count);
per_output the same along each row; N:M prunes M - N of every group. Ties go to the lower
index.
"""
import json
import math
import sys

import numpy as np


def prune_count(sparsity, n):
    # Ember's rule: round half away from zero of s * n.
    return int(math.floor(sparsity * n + 0.5))


def lowest(scores, count):
    """Boolean flags of the `count` lowest scores, ties by index."""
    flags = np.zeros(scores.shape[0], dtype=bool)
    if count > 0:
        order = np.lexsort((np.arange(scores.shape[0]), scores))
        flags[order[:count]] = True
    return flags


def sparsegpt(p):
    rows_out, cols = p["outputs"], p["inputs"]
    W = np.array(p["weight"], dtype=np.float64).reshape(rows_out, cols)
    H = 2.0 / p["rows"] * np.array(p["gram"], dtype=np.float64).reshape(cols, cols)
    s, B, structure = p["sparsity"], p["block_size"], p["structure"]
    nm = None
    if ":" in structure:
        n, m = (int(v) for v in structure.split(":"))
        nm = (n, m)

    # Inputs that never fired: H_jj = 1 and their weights are zero.
    dead = np.diag(H) == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    H[np.diag_indices(cols)] += p["dampening"] * np.mean(np.diag(H))
    # Hinv = U^T U with U upper triangular: the Cholesky factor of H^-1, transposed.
    Hinv = np.linalg.inv(H)
    U = np.linalg.cholesky(Hinv).T

    M = np.zeros((rows_out, cols), dtype=bool)
    for i1 in range(0, cols, B):
        i2 = min(i1 + B, cols)
        E = np.zeros((rows_out, i2 - i1))
        d = np.diag(U)[i1:i2]
        score = W[:, i1:i2] ** 2 / d[None, :] ** 2
        if nm is None and structure == "unstructured":
            k = prune_count(s, rows_out * i2) - prune_count(s, rows_out * i1)
            # Element order: row-major over the block (row r, column j -> r * width + j).
            M[:, i1:i2] = lowest(score.reshape(-1), k).reshape(rows_out, i2 - i1)
        elif nm is None:
            k = prune_count(s, i2) - prune_count(s, i1)
            for r in range(rows_out):
                M[r, i1:i2] = lowest(score[r], k)
        for j in range(i1, i2):
            if nm is not None and (j - i1) % nm[1] == 0:
                group = W[:, j:j + nm[1]] ** 2 / np.diag(U)[j:j + nm[1]][None, :] ** 2
                for r in range(rows_out):
                    M[r, j:j + nm[1]] = lowest(group[r], nm[1] - nm[0])
            w = W[:, j].copy()
            q = np.where(M[:, j], 0.0, w)
            err = (w - q) / U[j, j]
            # Spread the error over the block's later columns; column j becomes q.
            W[:, j:i2] -= np.outer(err, U[j, j:i2])
            W[:, j] = q
            E[:, j - i1] = err
        # Then over every column after the block.
        W[:, i2:] -= E @ U[i1:i2, i2:]
    return M, W


def main():
    with open(sys.argv[1]) as f:
        problem = json.load(f)
    mask, weight = sparsegpt(problem)
    with open(sys.argv[2], "w") as f:
        json.dump(
            {
                "pruned": mask.reshape(-1).astype(int).tolist(),
                "weight": weight.reshape(-1).tolist(),
            },
            f,
        )


if __name__ == "__main__":
    main()
