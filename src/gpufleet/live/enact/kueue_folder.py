"""The Kueue desired state written as a folder for ``kubectl apply --server-side -k FOLDER``
or a GitOps repository: one YAML file per object and a ``kustomization.yaml`` listing them
in the order to apply (flavors, cohorts, cluster queues, local queues).

The folder must be new, empty, or hold only what an earlier run wrote (every entry a
regular ``.yaml`` file whose first line is :data:`MARK`): those files are replaced, so a
folder of a GitOps repository is rewritten whole and the repository's history shows the
change. Anything else in it (another file, a link, a folder) is refused before a file is
written. Files are created with ``O_EXCL | O_NOFOLLOW`` in a fresh private folder beside
it (``mkdtemp``), then moved in: a link planted in the target is replaced, never followed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import yaml

from gpufleet.errors import InputError
from gpufleet.live.enact.kueue_desired import KueueDesired, KueueObject

MARK = "# written by gpufleet apply kueue; regenerate rather than edit"
KUSTOMIZATION = "kustomization.yaml"


def file_name(o: KueueObject) -> str:
    ns = f"{o.namespace}." if o.namespace else ""
    return f"{o.kind.lower()}-{ns}{o.name}.yaml"


def _check_folder(folder: Path) -> list[Path]:
    """The earlier run's files to replace; anything else is an error naming it."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise InputError(f"-o {folder}: not a folder (expected a new or gpufleet-written folder)")
    if not folder.exists():
        return []
    old = []
    for entry in sorted(folder.iterdir()):
        ours = entry.suffix == ".yaml" and entry.is_file() and not entry.is_symlink()
        if ours:
            with entry.open(encoding="utf-8", errors="replace") as f:
                ours = f.readline().rstrip("\n") == MARK
        if not ours:
            raise InputError(
                f"-o {folder}: {entry.name} was not written by gpufleet apply kueue "
                "(expected a new or empty folder, or one that holds only its files)"
            )
        old.append(entry)
    return old


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def write_folder(desired: KueueDesired, folder: Path) -> list[str]:
    """Write the manifests; return the file names (kustomization last). They are written
    first into a new folder beside ``folder`` and moved in only once all are written, so a
    failure part way (a full disk) leaves ``folder`` as it was."""
    old = _check_folder(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        names = _write_all(desired, staging)
        folder.mkdir(exist_ok=True)
        for p in old:
            p.unlink()
        for name in names:
            os.replace(staging / name, folder / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return names


def _write_all(desired: KueueDesired, folder: Path) -> list[str]:
    names = []
    for o in desired.objects:
        name = file_name(o)
        _write(folder / name, f"{MARK}\n" + yaml.safe_dump(o.manifest, sort_keys=False))
        names.append(name)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": names,
    }
    # no instant here: a GitOps folder changes only when the desired state does
    head = f"{MARK}\n# the register's desired state for Kueue {desired.api}\n"
    _write(folder / KUSTOMIZATION, head + yaml.safe_dump(kustomization, sort_keys=False))
    return [*names, KUSTOMIZATION]
