"""Oracles answer "what is the spectrum of these sites?": FEFF10 campaigns, or published rows (replay)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from xasflow.errors import InputError, XasflowError
from xasflow.io.omnixas import parse_site_id


@dataclass
class Labels:
    """What an oracle returned: spectra of the sites it finished, a reason for each it could not."""

    spectra: dict[str, np.ndarray] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


class Oracle(Protocol):
    """Labels sites by id (``material_site``); must never raise for one bad site (report it in ``failures``)."""

    name: str

    def label(self, site_ids: Sequence[str]) -> Labels: ...


class ReplayOracle:
    """Answers from known spectra (published rows): the pool-replay study, and tests."""

    name = "replay"

    def __init__(self, ids: Sequence[str], spectra: np.ndarray, fail: Sequence[str] = ()) -> None:
        self._spectra = {str(i): np.asarray(s, dtype=np.float64) for i, s in zip(ids, spectra, strict=True)}
        self._fail = set(fail)
        self.calls: list[list[str]] = []

    def label(self, site_ids: Sequence[str]) -> Labels:
        self.calls.append(list(site_ids))
        out = Labels()
        for site_id in site_ids:
            if site_id in self._fail:
                out.failures[site_id] = "replay: marked as failing"
            elif site_id in self._spectra:
                out.spectra[site_id] = self._spectra[site_id]
            else:
                out.failures[site_id] = "replay: no published spectrum for this site"
        return out


class FeffOracle:
    """Runs a FEFF10 campaign of the requested sites (``xasflow.simulation.campaign``) and reads the spectra back.

    Parameters
    ----------
    sources
        Structure file of each material id.
    element, feff_cards, out
        Absorbing element, name of the FEFF card set (:mod:`~xasflow.simulation.feff_cards`) and output root of
        the campaign (Lightshow layout).
    client_factory
        Returns a ``dask.distributed.Client`` (local cluster or an existing scheduler); closed after each batch.
    timeout, retries
        Per-site limit (s) and resubmissions, as in ``xasflow simulate``.
    """

    name = "feff"

    def __init__(
        self,
        sources: dict[str, str | Path],
        element: str,
        feff_cards: str,
        out: Path,
        client_factory: Callable[[], object],
        timeout: float | None = None,
        retries: int = 1,
        on_progress: Callable | None = None,
    ) -> None:
        self.sources = {k: Path(v) for k, v in sources.items()}
        self.element = element
        self.feff_cards = feff_cards
        self.out = Path(out)
        self.client_factory = client_factory
        self.timeout = timeout
        self.retries = retries
        self.on_progress = on_progress

    def _plan(self, site_ids: Sequence[str]):
        from xasflow.simulation.campaign import CampaignConfig, Plan, plan_campaign
        from xasflow.simulation.feff_cards import get_feff_card_set

        by_material: dict[str, list[int]] = {}
        for site_id in site_ids:
            material, site = parse_site_id(site_id)
            by_material.setdefault(material, []).append(site)
        feff_card_set = get_feff_card_set(self.feff_cards)
        merged = Plan(config=CampaignConfig(self.element, feff_card_set, self.out, sites="all"))
        failures: dict[str, str] = {}
        for material, sites in sorted(by_material.items()):
            ids = [f"{material}_{s:03d}" for s in sites]
            if material not in self.sources:
                failures.update({i: "no structure file for this material in the pool" for i in ids})
                continue
            config = CampaignConfig(
                self.element,
                feff_card_set,
                self.out,
                sites=",".join(map(str, sites)),
                retries=self.retries,
                timeout=self.timeout,
            )
            try:
                plan = plan_campaign([self.sources[material]], config)
            except (InputError, XasflowError) as err:
                failures.update({i: str(err) for i in ids})
                continue
            merged.tasks += plan.tasks
            merged.done += plan.done
            merged.conflicts += plan.conflicts
            merged.problems += plan.problems
            merged.structures += plan.structures
        merged.config = CampaignConfig(
            self.element, feff_card_set, self.out, sites="all", retries=self.retries, timeout=self.timeout
        )
        return merged, failures

    def label(self, site_ids: Sequence[str]) -> Labels:
        from xasflow.data.xmu import spectrum_from_xmu
        from xasflow.simulation.campaign import run_campaign
        from xasflow.simulation.output import site_dir

        plan, failures = self._plan(site_ids)
        out = Labels(failures=dict(failures))
        for conflict in plan.conflicts:
            out.failures[conflict.site_id] = f"conflict: {conflict.reason}"
        reasons: dict[str, str] = {}
        if plan.tasks:
            # One report per batch, never overwritten: learn_campaign_001.json, 002, ...
            reports = self.out / self.element / "learn_reports"
            reports.mkdir(parents=True, exist_ok=True)
            report_path = reports / f"learn_campaign_{len(list(reports.glob('learn_campaign_*.json'))) + 1:03d}.json"
            from xasflow.parallel import stop_client

            client = self.client_factory()
            try:
                report = run_campaign(plan, client, report_path, self.on_progress)
            finally:
                stop_client(client)
            reasons = {
                o.site_id: f"{o.status}: {o.reason}" for o in report.outcomes if o.status not in ("finished", "skipped")
            }
        for site_id in site_ids:
            if site_id in out.failures:
                continue
            if site_id in reasons:
                out.failures[site_id] = reasons[site_id]
                continue
            material, site = parse_site_id(site_id)
            path = site_dir(self.out, self.element, material, site) / "xmu.dat"
            try:
                out.spectra[site_id] = spectrum_from_xmu(path, self.element)
            except (InputError, XasflowError, OSError, ValueError) as err:
                out.failures[site_id] = f"no usable spectrum ({err})"
        return out
