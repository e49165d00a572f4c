"""Training rows of a simulation campaign: its spectra, their features and the card set(s) they used."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from xasflow.data.dataset import XASDataset
from xasflow.data.reserved import reserved_materials
from xasflow.errors import XasflowError


def campaign_rows(campaign: Path, element: str, reserved_dir: Path) -> tuple[XASDataset, np.ndarray, dict]:
    """The element's packaged campaign spectra, their M3GNet features and the campaign summary.

    Raises
    ------
    XasflowError
        Sites of reserved materials, or sites whose features failed.
    """
    from xasflow.features.dataset import featurize_dataset
    from xasflow.features.registry import get_featurizer

    campaign = Path(campaign)
    dataset = XASDataset.load(campaign / f"{element}_FEFF_campaign.npz")
    reserved = reserved_materials(reserved_dir, element)
    leaked = sorted(set(dataset.material_ids.tolist()) & set(reserved))
    if leaked:
        raise XasflowError(f"{campaign}: {element} sites of reserved materials {', '.join(leaked)}; not trained on")
    features = featurize_dataset(dataset, campaign / element, get_featurizer("m3gnet"), progress=False)
    if not features.complete:
        raise XasflowError(f"{campaign}: features failed for {len(features.errors)} {element} sites")
    summary = json.loads((campaign / "summary.json").read_text())["elements"][element]
    return dataset, features.matrix, summary


def campaign_card_set(campaign: Path, element: str, site_ids: list[str]) -> dict:
    """The card set(s) of the sites, from their markers: fingerprints, present names, sites per set."""
    from xasflow.io.omnixas import parse_site_id
    from xasflow.simulation.cards import present_name
    from xasflow.simulation.output import MARKER, read_marker, site_dir

    count: Counter = Counter()
    recorded: dict[str, str] = {}
    for site_id in site_ids:
        material, site = parse_site_id(site_id)
        marker = read_marker(site_dir(campaign, element, material, site))
        if marker is None:
            raise XasflowError(f"{campaign}: {site_id} has no {MARKER}; its card set is unknown")
        count[marker.get("fingerprint")] += 1
        recorded[marker.get("fingerprint")] = marker.get("card_set")
    prints = sorted(count, key=lambda f: -count[f])
    present = [present_name(f, recorded[f]) for f in prints]
    return {
        "name": " + ".join(present),
        "fingerprint": "+".join(prints),
        "recorded_as": " + ".join(recorded[f] for f in prints),
        "sites_by_set": {name: count[f] for name, f in zip(present, prints, strict=True)},
    }
