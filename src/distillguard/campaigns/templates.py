"""Near-identical template grouping over the 64-bit template SimHash (``template_fp``).

The exact ``template_key`` changes with every problem when a wrapper is
shorter than the key's edge (``Problem: {p}``), and with any word an operator
changes in a system prompt or wrapper per account. The SimHash does not:
rows of one template land within about 3 bits, paraphrased variants of one
template about 10-18 bits apart, unrelated prompts near 32 (see
:mod:`distillguard.signals.fingerprint`). Templates are grouped in two steps
over the *distinct* fingerprints, so the work grows with them, not with rows:

1. **atoms** — fingerprints within ``radius`` bits, found by banded SimHash
   LSH: the fingerprints rotated by each multiple of ``band_bits`` and sorted,
   each compared with its next ``window`` neighbours (two fingerprints within
   3 bits agree exactly on one of four 16-bit bands, so they sort near each
   other in that band's rotation). The pairs are joined by connected
   components; a member farther than ``2 × radius`` from its component's
   heaviest fingerprint leaves it, so a chain of near pairs cannot join
   distant templates.
2. **templates** — atoms of at least ``min_rows`` rows (a template in use,
   whose row-weighted bitwise-majority centroid the varying problems no
   longer blur) are merged greedily, heaviest first: an atom joins the
   nearest leader whose centroid is within ``merge_radius`` bits of its own,
   else leads a template. Membership always means closeness to the leader,
   never a chain of neighbours; only the heaviest ``max_atoms`` atoms are
   merged, which bounds this step. ``merge_radius`` = 12 sits in the low half
   of the paraphrase range, where unrelated templates (binomial around 32)
   almost never fall.

A template shown by more than ``hub_share`` of the accounts (and more than
``hub_min`` of them) is a *hub* — a default system prompt, a popular app —
and is not emitted: its rows keep their exact keys, as before grouping. The
rarity weighting of :mod:`distillguard.campaigns.edges` is not enough on its
own: each family's vector is normalised per account, so two accounts whose
traffic is all one hub template are similar whatever its rarity. The share is
small: on the ``large`` scenario (198,700 accounts) at 5 % the group of one
public tool-calling format, shared with the client, linked 12 legitimate
tool users into a tool harvester's campaign (16 legitimate accounts in
campaigns, 11 false positives); at 0.2 %, as with exact keys only, 2 and 3.
Grouping then serves small operations; large ones link by other families.

Limits: grouping needs per-row closeness, so a template whose rows spread
wider than ``radius`` (a wrapper on one side only) is not grouped, and a word
changed at the very edge of the prompt or the end of the system prompt (the
SimHash weighs edge tokens most) moves a variant about 13-21 bits, out of
``merge_radius``. MinHash over skeleton shingles was not used: it needs the
prompt text, which a store may not keep, and a second pass over every prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from distillguard.campaigns.settings import TemplateSettings, load_campaign_settings
from distillguard.signals.fingerprint import hamming64


@dataclass(frozen=True)
class TemplateGroups:
    """Distinct fingerprints ``fp`` (ascending) and the template ``group`` of each (-1: none)."""

    fp: np.ndarray
    group: np.ndarray
    name: np.ndarray
    """Per group, the heaviest fingerprint of its leader atom: a stable readable id."""


def group_templates(fp: np.ndarray, rows: np.ndarray, settings: TemplateSettings | None = None) -> TemplateGroups:
    """Group the distinct fingerprints ``fp`` (with their row counts ``rows``) into near-identical templates.

    Only groups of at least two rows are kept; see the module doc. The groups do not depend on the
    order of ``fp``.
    """
    settings = settings or load_campaign_settings().templates
    order = np.argsort(np.asarray(fp, np.uint64))
    fp = np.asarray(fp, np.uint64)[order]
    rows = np.asarray(rows, np.int64)[order]
    atom, head = _atoms(fp, rows, settings)
    atom_rows = np.bincount(atom, weights=rows, minlength=len(head)).astype(np.int64)
    leader = _merge(fp, rows, atom, atom_rows, settings)
    keep = np.bincount(leader, weights=atom_rows, minlength=len(head))[leader] >= 2
    leaders, group_of_atom = np.unique(np.where(keep, leader, -1), return_inverse=True)
    offset = 1 if len(leaders) and leaders[0] == -1 else 0
    group = group_of_atom[atom] - offset
    return TemplateGroups(fp, group.astype(np.int64), fp[head[leaders[offset:]]])


def _atoms(fp: np.ndarray, rows: np.ndarray, settings: TemplateSettings) -> tuple[np.ndarray, np.ndarray]:
    """Atom id of each fingerprint, and each atom's heaviest fingerprint (an index into ``fp``).

    Near pairs come from the banded LSH of the module doc; a member farther than ``2 * radius`` from its
    component's heaviest fingerprint becomes an atom of its own.
    """
    n = len(fp)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    a, b = [np.zeros(0, np.uint64)], [np.zeros(0, np.uint64)]
    for shift in range(0, 64, settings.band_bits):
        ranked = _rotate(np.sort(_rotate(fp, shift)), (64 - shift) % 64)
        for d in range(1, min(settings.window, n - 1) + 1):
            near = np.flatnonzero(np.bitwise_count(ranked[:-d] ^ ranked[d:]) <= settings.radius)
            a.append(ranked[near])
            b.append(ranked[near + d])
    i, j = np.searchsorted(fp, np.concatenate(a)), np.searchsorted(fp, np.concatenate(b))
    graph = sparse.coo_array((np.ones(len(i), np.int8), (i, j)), shape=(n, n))
    k, label = csgraph.connected_components(graph, directed=False)
    head = _heaviest(rows, label, k)
    far = np.flatnonzero(hamming64(fp, fp[head[label]]) > 2 * settings.radius)
    label[far] = k + np.arange(len(far))
    return label.astype(np.int64), np.r_[head, far]


def _rotate(fp: np.ndarray, shift: int) -> np.ndarray:
    """Each 64-bit value rotated left by ``shift`` bits."""
    return (fp << np.uint64(shift)) | (fp >> np.uint64(64 - shift)) if shift else fp


def _heaviest(rows: np.ndarray, label: np.ndarray, k: int) -> np.ndarray:
    """Index of the member with the most rows of each label ``0..k-1`` (the first one on ties)."""
    order = np.lexsort((-rows, label))
    ranked = label[order]
    first = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    head = np.zeros(k, np.int64)
    head[ranked[first]] = order[first]
    return head


def _centroids(fp: np.ndarray, rows: np.ndarray, label: np.ndarray, k: int, chunk: int = 1 << 17) -> np.ndarray:
    """Row-weighted bitwise majority of the fingerprints of each label ``0..k-1`` (``label`` < 0: none)."""
    order = np.flatnonzero(label >= 0)
    order = order[np.argsort(label[order], kind="stable")]
    ones = np.zeros((k, 64), np.int64)
    total = np.zeros(k, np.int64)
    for start in range(0, len(order), chunk):
        part = order[start:start + chunk]
        lab = label[part]
        first = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
        bits = np.unpackbits(fp[part].view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
        weighted = bits * rows[part, None]
        ones[lab[first]] += np.add.reduceat(weighted, first, axis=0)
        total[lab[first]] += np.add.reduceat(rows[part], first)
    majority = (2 * ones > total[:, None]).astype(np.uint8)
    return np.packbits(majority, axis=1, bitorder="little").view(np.uint64).reshape(-1)


def _merge(fp: np.ndarray, rows: np.ndarray, atom: np.ndarray, atom_rows: np.ndarray,
           settings: TemplateSettings, block: int = 256) -> np.ndarray:
    """Leader atom of each atom: heavy atoms, heaviest first, join the nearest leader within ``merge_radius``.

    Distances to the leaders that exist before a block of atoms are computed for the whole block at once.
    """
    leader = np.arange(len(atom_rows))
    heavy = np.flatnonzero(atom_rows >= settings.min_rows)
    heavy = heavy[np.argsort(-atom_rows[heavy], kind="stable")][: settings.max_atoms]
    slot = np.full(len(atom_rows), -1)
    slot[heavy] = np.arange(len(heavy))
    centre = _centroids(fp, rows, slot[atom], len(heavy))
    leader_fp = np.zeros(len(heavy), np.uint64)
    leader_id = np.zeros(len(heavy), np.int64)
    count = 0
    for start in range(0, len(heavy), block):
        known = count
        before = np.bitwise_count(centre[start:start + block, None] ^ leader_fp[None, :known])
        best = before.argmin(axis=1) if known else np.zeros(len(before), np.int64)
        best_distance = before[np.arange(len(before)), best] if known else np.full(len(before), 65)
        for k, a in enumerate(heavy[start:start + block]):
            nearest, distance = int(best[k]), int(best_distance[k])
            if count > known:
                fresh = np.bitwise_count(leader_fp[known:count] ^ centre[start + k])
                j = int(fresh.argmin())
                if fresh[j] < distance:
                    nearest, distance = known + j, int(fresh[j])
            if distance <= settings.merge_radius:
                leader[a] = leader_id[nearest]
                continue
            leader_fp[count], leader_id[count] = centre[start + k], a
            count += 1
    return leader


def named_groups(groups: TemplateGroups, group: np.ndarray, accounts: np.ndarray, population: np.ndarray,
                 settings: TemplateSettings) -> dict[int, str]:
    """Group id → template name (``~`` + leader hex) of the groups that are not hubs.

    ``accounts[k]`` accounts show group ``group[k]``, out of ``population[k]`` accounts in all.
    """
    hub = (accounts > settings.hub_min) & (accounts > settings.hub_share * population)
    return {int(g): f"~{groups.name[g]:016x}" for g in group[~hub]}
