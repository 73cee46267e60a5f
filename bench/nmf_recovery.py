"""NMF recovery of the true component spectra (and maps) of every synthetic dataset; JSON out.

Each true spectrum is matched to one NMF component by the Hungarian method on their Pearson
correlations; the matched correlations are printed per dataset.

Usage: ``python bench/nmf_recovery.py``
"""

import json

import numpy as np
from scipy.optimize import linear_sum_assignment

import eelswidgets as ew


def matched(found: np.ndarray, true: np.ndarray) -> list[float]:
    c = np.corrcoef(np.vstack([true, found]))[: len(true), len(true):]
    rows, cols = linear_sum_assignment(-c)
    return np.round(c[rows, cols], 4).tolist()


def low_loss(si):
    return si.remove_zlp(fit_window=si.truth["zlp_fit_window"]).clip(0)


def main() -> None:
    out = {}
    for name, make in (("nanowires", ew.datasets.nanowires),
                       ("nanocube_array", ew.datasets.nanocube_array)):
        si = make(seed=0)
        low = low_loss(si)
        k = len(si.truth["spectra"])
        dec = ew.decompose(low, k, random_state=0)
        keep = np.isin(si.energy, low.energy)
        out[name] = {"spectra": matched(dec.spectra, si.truth["spectra"][:, keep])}
    si = ew.datasets.perovskite_interface(seed=0)
    core = (si.remove_background(window=si.truth["background_windows"]["Ti L2,3"])
            .crop_energy(440, float(si.energy[-1])).clip(0))
    k = len(si.truth["spectra"])
    dec = ew.decompose(core, k, random_state=0)
    keep = np.isin(si.energy, core.energy)
    out["perovskite_interface"] = {
        "spectra": matched(dec.spectra, si.truth["spectra"][:, keep]),
        "maps": matched(dec.maps.reshape(k, -1), si.truth["maps"].reshape(k, -1)),
    }
    print(json.dumps({"benchmark": "nmf_recovery", "datasets": out}))


if __name__ == "__main__":
    main()
