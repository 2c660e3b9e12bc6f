"""Directed drive graph built from an OpenStreetMap extract, stored as memory-mapped CSR arrays.

Dispatch asks for travel times on every incident, so the graph lives in flat numpy arrays
(compressed sparse rows) that load as a memory map in milliseconds instead of being rebuilt from
OSM each start. The cache is keyed by the source file's hash *and* the speed table, so a new
extract or new speeds can never be served stale arrays.

Two input forms are read:

* the GeoJSON of an ``ogr2ogr`` export of the OSM ``lines`` layer (the Taiyuan fixture), where
  tags other than the fixed columns sit in an hstore string ``other_tags``; ways that share an OSM
  node share a coordinate, so vertices are joined on coordinates rounded to 1e-7°;
* ``.osm.pbf`` (via ``osmium``) for real deployments, joined on OSM node ids.

A clipped extract keeps ways whose nodes are partly outside it: the way's node refs name nodes the
file does not have. Joining the present nodes straight across such a gap would invent a road
(a way that leaves the extract and comes back becomes a shortcut through the city), so a way is
split at every missing node: each run of consecutive present nodes is its own piece, and a piece
of one node gives no arc (:func:`split_at_gaps`). In ``.osm.pbf`` a missing node is a ref without
a location. The GeoJSON form has coordinates, not refs: its MultiLineString parts stay separate
pieces and a position that is not a coordinate pair (``null``) splits the way the same way; a
converter that silently dropped missing nodes has already joined across them, which no reader
can undo, so give clipped extracts as ``.osm.pbf``.

Arc weights are integers (deciseconds): every engine then sums the same integers, so exact and
accelerated engines agree to the last decisecond and the best team is the same whichever engine
answers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from geo.distance import EARTH_RADIUS_M

__all__ = [
    "CACHE_FORMAT",
    "DEFAULT_SPEEDS_KMH",
    "DRIVABLE_CLASSES",
    "RoadNetwork",
    "build_network",
    "cache_key",
    "load_network",
    "open_network",
    "parse_hstore",
    "save_network",
    "split_at_gaps",
    "weights_ds",
]

#: Class speeds (km/h) of the data README; a setting, so a centre can slow the city at rush hour.
DEFAULT_SPEEDS_KMH: Mapping[str, float] = {
    "motorway": 80.0,
    "motorway_link": 40.0,
    "trunk": 60.0,
    "trunk_link": 40.0,
    "primary": 45.0,
    "primary_link": 30.0,
    "secondary": 40.0,
    "secondary_link": 30.0,
    "tertiary": 30.0,
    "tertiary_link": 25.0,
    "unclassified": 25.0,
    "residential": 20.0,
    "living_street": 10.0,
    "service": 15.0,
}

#: Highway classes a rescue van may drive on, in a fixed order: ``arc_class`` indexes this tuple.
DRIVABLE_CLASSES: tuple[str, ...] = tuple(DEFAULT_SPEEDS_KMH)

#: Bumped whenever the on-disk layout or the import rules change, so old caches are ignored.
#: 2: ways are split at missing nodes instead of being joined across them (issue 13).
CACHE_FORMAT = 2

_ONEWAY_FORWARD = frozenset({"yes", "1", "true"})
_ONEWAY_REVERSE = frozenset({"-1", "reverse"})
_ONEWAY_NO = frozenset({"no", "0", "false"})
_ACCESS_DROPPED = frozenset({"no", "private"})
_HSTORE_RE = re.compile(r'"((?:[^"\\]|\\.)*)"\s*=>\s*(?:"((?:[^"\\]|\\.)*)"|NULL)')

_ARRAYS = ("lon", "lat", "indptr", "head", "weight_ds", "length_m", "arc_class", "way_id")

_P = TypeVar("_P")

ProgressFn = Callable[[int, int | None], None]
"""``progress(done, total)`` — called while importing; ``total`` is None when unknown."""


def parse_hstore(text: str | None) -> dict[str, str]:
    """Parse the hstore string ``ogr2ogr`` writes into ``other_tags``.

    >>> parse_hstore('"oneway"=>"yes","lanes"=>"4"')
    {'oneway': 'yes', 'lanes': '4'}
    """
    if not text:
        return {}
    out: dict[str, str] = {}
    for m in _HSTORE_RE.finditer(text):
        if m.group(2) is not None:
            out[m.group(1).replace('\\"', '"')] = m.group(2).replace('\\"', '"')
    return out


@dataclass(frozen=True, slots=True)
class _Way:
    """One drivable OSM way reduced to what the graph needs."""

    way_id: int
    highway: str
    direction: int  # 0 both ways, 1 forward only, -1 backward only
    keys: npt.NDArray[np.int64]
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]


def _way_direction(highway: str, tags: Mapping[str, str]) -> int | None:
    """Travel direction of a way, or None when it is not drivable for a rescue van.

    An explicit ``oneway`` wins over what motorways and roundabouts imply.
    """
    if highway not in DEFAULT_SPEEDS_KMH:
        return None
    if tags.get("access", "").strip().lower() in _ACCESS_DROPPED:
        return None
    oneway = tags.get("oneway", "").strip().lower()
    if oneway in _ONEWAY_FORWARD:
        return 1
    if oneway in _ONEWAY_REVERSE:
        return -1
    if oneway in _ONEWAY_NO:
        return 0
    if highway == "motorway" or tags.get("junction", "").lower() in ("roundabout", "circular"):
        return 1
    return 0


def split_at_gaps(points: Iterable[_P | None]) -> list[list[_P]]:
    """Runs of consecutive present points; ``None`` marks a missing node and ends a run.

    Runs of a single point are dropped: a piece needs two nodes to give a road segment.

    >>> split_at_gaps([1, 2, None, 3, None, 4, 5, 6])
    [[1, 2], [4, 5, 6]]
    """
    runs: list[list[_P]] = []
    current: list[_P] = []
    for p in points:
        if p is None:
            if len(current) >= 2:
                runs.append(current)
            current = []
        else:
            current.append(p)
    if len(current) >= 2:
        runs.append(current)
    return runs


def _position(coord: Any) -> tuple[float, float] | None:
    """A GeoJSON position as ``(lon, lat)``, or None when it is not a finite coordinate pair."""
    try:
        lon, lat = float(coord[0]), float(coord[1])
    except (TypeError, ValueError, IndexError):
        return None
    return (lon, lat) if np.isfinite(lon) and np.isfinite(lat) else None


def _coord_keys(lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
                ) -> npt.NDArray[np.int64]:
    """One integer per coordinate rounded to 1e-7°, so ways meeting at a vertex share a node."""
    ilon = np.rint(lon * 1e7).astype(np.int64) + 1_800_000_000
    ilat = np.rint(lat * 1e7).astype(np.int64) + 900_000_000
    return ilon * 2_000_000_000 + ilat


def _iter_geojson_ways(path: Path, progress: ProgressFn | None) -> Iterator[_Way]:
    data = json.loads(path.read_text(encoding="utf-8"))
    features = data.get("features", [])
    total = len(features)
    for i, feat in enumerate(features):
        if progress is not None and i % 500 == 0:
            progress(i, total)
        props = feat.get("properties") or {}
        geom = feat.get("geometry") or {}
        highway = props.get("highway")
        if not highway:
            continue
        tags = parse_hstore(props.get("other_tags"))
        direction = _way_direction(str(highway), tags)
        if direction is None:
            continue
        if geom.get("type") == "LineString":
            parts = [geom["coordinates"]]
        elif geom.get("type") == "MultiLineString":
            parts = geom["coordinates"]
        else:
            continue
        for coords in parts:
            for run in split_at_gaps(_position(c) for c in coords or []):
                xy = np.asarray(run, dtype=np.float64)
                yield _Way(int(props.get("osm_id") or 0), str(highway), direction,
                           _coord_keys(xy[:, 0], xy[:, 1]), xy[:, 0].copy(), xy[:, 1].copy())
    if progress is not None:
        progress(total, total)


def _iter_pbf_ways(path: Path, progress: ProgressFn | None) -> Iterator[_Way]:
    import osmium  # local import: only real deployments read .pbf

    processor = osmium.FileProcessor(str(path)).with_locations()
    seen = 0
    for obj in processor:
        if not obj.is_way():
            continue
        seen += 1
        if progress is not None and seen % 20_000 == 0:
            progress(seen, None)
        tags = obj.tags
        highway = tags.get("highway")
        if not highway:
            continue
        direction = _way_direction(highway, {k: tags.get(k, "") for k in
                                             ("access", "oneway", "junction")})
        if direction is None:
            continue
        # a node outside the extract has no location: the way is cut there, not joined across
        nodes = ((n.ref, n.location.lon, n.location.lat) if n.location.valid() else None
                 for n in obj.nodes)
        for run in split_at_gaps(nodes):
            refs, lons, lats = zip(*run, strict=True)
            yield _Way(obj.id, highway, direction, np.asarray(refs, dtype=np.int64),
                       np.asarray(lons, dtype=np.float64), np.asarray(lats, dtype=np.float64))
    if progress is not None:
        progress(seen, seen)


def weights_ds(length_m: npt.NDArray[np.floating[Any]], arc_class: npt.NDArray[np.uint8],
               speeds_kmh: Mapping[str, float]) -> npt.NDArray[np.int32]:
    """Integer arc weights in deciseconds (at least 1, so no engine sees a zero-cost arc).

    Vectorised so that a new speed table (time of day) re-weights a million arcs in milliseconds.
    """
    speed = np.array([float(speeds_kmh.get(c, DEFAULT_SPEEDS_KMH[c])) for c in DRIVABLE_CLASSES])
    if np.any(speed <= 0):
        raise ValueError("class speeds must be positive")
    ds = np.rint(np.asarray(length_m, dtype=np.float64) * 36.0 / speed[arc_class])
    return np.maximum(ds, 1).astype(np.int32)


def _haversine_pairs(lon1: npt.NDArray[np.float64], lat1: npt.NDArray[np.float64],
                     lon2: npt.NDArray[np.float64], lat2: npt.NDArray[np.float64]
                     ) -> npt.NDArray[np.float64]:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(
        np.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))


@dataclass(eq=False)
class RoadNetwork:
    """A directed drive graph in CSR form (arcs sorted by tail node).

    Arc ``a`` of node ``u`` is ``indptr[u] <= a < indptr[u + 1]``; it leads to ``head[a]`` in
    ``weight_ds[a]`` deciseconds over ``length_m[a]`` metres. ``arc_class`` indexes
    :data:`DRIVABLE_CLASSES` so the weights can be recomputed for another speed table.
    """

    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    indptr: npt.NDArray[np.int64]
    head: npt.NDArray[np.int32]
    weight_ds: npt.NDArray[np.int32]
    length_m: npt.NDArray[np.float64]
    arc_class: npt.NDArray[np.uint8]
    way_id: npt.NDArray[np.int64]
    speeds_kmh: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SPEEDS_KMH))
    source: str = ""
    cache_path: Path | None = None

    @property
    def n_nodes(self) -> int:
        return int(self.lon.shape[0])

    @property
    def n_arcs(self) -> int:
        return int(self.head.shape[0])

    @cached_property
    def tail(self) -> npt.NDArray[np.int32]:
        """Tail node of every arc (expanded from ``indptr``)."""
        return np.repeat(np.arange(self.n_nodes, dtype=np.int32), np.diff(self.indptr))

    @property
    def arc_km(self) -> float:
        """Sum of all directed arcs (a two-way street counts twice)."""
        return float(np.sum(self.length_m)) / 1000.0

    @cached_property
    def total_km(self) -> float:
        """Kilometres of road: each street segment once, whichever directions it allows."""
        a = np.minimum(self.tail, self.head).astype(np.int64)
        b = np.maximum(self.tail, self.head).astype(np.int64)
        _, first = np.unique(a * self.n_nodes + b, return_index=True)
        return float(np.sum(self.length_m[first])) / 1000.0

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """``(min_lon, min_lat, max_lon, max_lat)`` of the nodes."""
        return (float(self.lon.min()), float(self.lat.min()),
                float(self.lon.max()), float(self.lat.max()))

    @cached_property
    def csr(self) -> sp.csr_matrix:
        """Forward graph as a scipy matrix (float data: csgraph needs it; integers stay exact)."""
        return sp.csr_matrix(
            (np.asarray(self.weight_ds, dtype=np.float64), np.asarray(self.head),
             np.asarray(self.indptr)), shape=(self.n_nodes, self.n_nodes))

    @cached_property
    def reverse_csr(self) -> sp.csr_matrix:
        """Reversed graph, built once: one search from the incident gives all team times."""
        return self.csr.transpose().tocsr()

    def arc_between(self, u: int, v: int) -> int:
        """Index of the arc ``u → v`` (parallel arcs were merged on import), or -1."""
        lo, hi = int(self.indptr[u]), int(self.indptr[u + 1])
        hits = np.flatnonzero(self.head[lo:hi] == v)
        return lo + int(hits[0]) if hits.size else -1

    @classmethod
    def from_arcs(cls, lon: npt.ArrayLike, lat: npt.ArrayLike, tail: npt.ArrayLike,
                  head: npt.ArrayLike, length_m: npt.ArrayLike, *,
                  arc_class: npt.ArrayLike | None = None, way_id: npt.ArrayLike | None = None,
                  weight_ds: npt.ArrayLike | None = None,
                  speeds_kmh: Mapping[str, float] | None = None, source: str = ""
                  ) -> RoadNetwork:
        """Build the CSR arrays from an arc list (any order; parallel arcs keep the quickest).

        Used by the importer, and by tests and benchmarks that need hand-made graphs. Without
        ``weight_ds`` the weights follow ``arc_class`` (default: residential) and the speeds.
        """
        speeds = {**DEFAULT_SPEEDS_KMH, **{k: float(v) for k, v in (speeds_kmh or {}).items()}}
        tail_a = np.asarray(tail, dtype=np.int64)
        head_a = np.asarray(head, dtype=np.int64)
        length = np.asarray(length_m, dtype=np.float64)
        m = tail_a.shape[0]
        cls_a = (np.full(m, DRIVABLE_CLASSES.index("residential"), dtype=np.uint8)
                 if arc_class is None else np.asarray(arc_class, dtype=np.uint8))
        way_a = np.zeros(m, dtype=np.int64) if way_id is None else np.asarray(way_id, np.int64)
        weight = (weights_ds(length, cls_a, speeds) if weight_ds is None
                  else np.asarray(weight_ds, dtype=np.int64))
        if np.any(weight <= 0):
            raise ValueError("arc weights must be positive deciseconds")
        lon_a = np.ascontiguousarray(lon, dtype=np.float64)
        n = lon_a.shape[0]
        if m and (min(tail_a.min(), head_a.min()) < 0 or max(tail_a.max(), head_a.max()) >= n):
            raise ValueError("arc endpoints must be node ids 0..n-1")
        order = np.lexsort((length, weight, head_a, tail_a))
        tail_a, head_a, length, cls_a, way_a, weight = (
            x[order] for x in (tail_a, head_a, length, cls_a, way_a, weight))
        first = np.ones(m, dtype=bool)
        first[1:] = (tail_a[1:] != tail_a[:-1]) | (head_a[1:] != head_a[:-1])
        tail_a, head_a, length, cls_a, way_a, weight = (
            x[first] for x in (tail_a, head_a, length, cls_a, way_a, weight))
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(tail_a, minlength=n), out=indptr[1:])
        return cls(lon=lon_a, lat=np.ascontiguousarray(lat, dtype=np.float64), indptr=indptr,
                   head=head_a.astype(np.int32), weight_ds=weight.astype(np.int32),
                   length_m=length, arc_class=cls_a, way_id=way_a, speeds_kmh=speeds,
                   source=source)

    def with_speeds(self, speeds_kmh: Mapping[str, float]) -> RoadNetwork:
        """Same topology with weights for another speed table (e.g. the evening rush)."""
        merged = {**DEFAULT_SPEEDS_KMH, **{k: float(v) for k, v in speeds_kmh.items()}}
        return RoadNetwork(self.lon, self.lat, self.indptr, self.head,
                           weights_ds(self.length_m, self.arc_class, merged), self.length_m,
                           self.arc_class, self.way_id, merged, self.source, None)


def build_network(ways: Iterable[_Way], *, speeds_kmh: Mapping[str, float] | None = None,
                  source: str = "") -> RoadNetwork:
    """Assemble ways into a deduplicated CSR graph, keeping the largest strongly connected part.

    Only the largest strongly connected component is kept so that every node can reach and be
    reached from every other: a snapped team on a dead-end fragment would otherwise look
    unreachable.
    """
    speeds = {**DEFAULT_SPEEDS_KMH, **{k: float(v) for k, v in (speeds_kmh or {}).items()}}
    class_of = {c: i for i, c in enumerate(DRIVABLE_CLASSES)}
    keys_l, lon_l, lat_l, seg_l, dir_l, cls_l, wid_l = [], [], [], [], [], [], []
    offset = 0
    for w in ways:
        n = w.keys.shape[0]
        keys_l.append(w.keys)
        lon_l.append(w.lon)
        lat_l.append(w.lat)
        seg_l.append(np.arange(offset, offset + n - 1, dtype=np.int64))
        dir_l.append(np.full(n - 1, w.direction, dtype=np.int8))
        cls_l.append(np.full(n - 1, class_of[w.highway], dtype=np.uint8))
        wid_l.append(np.full(n - 1, w.way_id, dtype=np.int64))
        offset += n
    if not keys_l:
        raise ValueError(f"no drivable ways in {source or 'input'}")
    keys = np.concatenate(keys_l)
    vlon, vlat = np.concatenate(lon_l), np.concatenate(lat_l)
    seg = np.concatenate(seg_l)
    direction = np.concatenate(dir_l)
    seg_class = np.concatenate(cls_l)
    seg_way = np.concatenate(wid_l)

    uniq, first, node_of = np.unique(keys, return_index=True, return_inverse=True)
    node_lon, node_lat = vlon[first], vlat[first]
    a, b = node_of[seg], node_of[seg + 1]
    seg_len = _haversine_pairs(node_lon[a], node_lat[a], node_lon[b], node_lat[b])

    fwd = direction >= 0
    bwd = direction <= 0
    tail = np.concatenate([a[fwd], b[bwd]])
    head = np.concatenate([b[fwd], a[bwd]])
    length = np.concatenate([seg_len[fwd], seg_len[bwd]])
    arc_class = np.concatenate([seg_class[fwd], seg_class[bwd]])
    way_id = np.concatenate([seg_way[fwd], seg_way[bwd]])
    keep = tail != head
    tail, head, length, arc_class, way_id = (x[keep] for x in (tail, head, length, arc_class,
                                                               way_id))
    weight = weights_ds(length, arc_class, speeds)

    n_all = uniq.shape[0]
    graph = sp.csr_matrix((np.ones(tail.shape[0]), (tail, head)), shape=(n_all, n_all))
    _, label = connected_components(graph, directed=True, connection="strong")
    biggest = np.argmax(np.bincount(label))
    in_scc = label == biggest
    new_id = np.full(n_all, -1, dtype=np.int64)
    new_id[in_scc] = np.arange(int(in_scc.sum()))
    keep = in_scc[tail] & in_scc[head]
    return RoadNetwork.from_arcs(
        node_lon[in_scc], node_lat[in_scc], new_id[tail[keep]], new_id[head[keep]],
        length[keep], arc_class=arc_class[keep], way_id=way_id[keep], weight_ds=weight[keep],
        speeds_kmh=speeds, source=source)


def _file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def cache_key(source: str | Path, speeds_kmh: Mapping[str, float] | None = None) -> str:
    """Hash of the source file's bytes, the effective speed table and the cache format."""
    speeds = {**DEFAULT_SPEEDS_KMH, **{k: float(v) for k, v in (speeds_kmh or {}).items()}}
    h = hashlib.blake2b(digest_size=10)
    h.update(_file_digest(Path(source)).encode())
    h.update(json.dumps(sorted(speeds.items())).encode())
    h.update(f"format={CACHE_FORMAT}".encode())
    return h.hexdigest()


def save_network(net: RoadNetwork, target: str | Path) -> None:
    """Write arrays as plain ``.npy`` (memory-mappable, unlike ``.npz``), then rename atomically."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        for name in _ARRAYS:
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(getattr(net, name)))
        meta = {"format": CACHE_FORMAT, "source": net.source, "speeds_kmh": net.speeds_kmh,
                "classes": list(DRIVABLE_CLASSES), "n_nodes": net.n_nodes, "n_arcs": net.n_arcs}
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1))
        try:
            os.rename(tmp, target)
        except OSError:  # another process won the race; its copy is identical
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def open_network(path: str | Path) -> RoadNetwork:
    """Memory-map a graph written by :func:`save_network` (read-only arrays)."""
    path = Path(path)
    meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    arrays = {name: np.load(path / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
    return RoadNetwork(**arrays, speeds_kmh=meta["speeds_kmh"], source=meta["source"],
                       cache_path=path)


def load_network(source: str | Path, *, cache_dir: str | Path,
                 speeds_kmh: Mapping[str, float] | None = None,
                 progress: ProgressFn | None = None) -> RoadNetwork:
    """Load the drive graph of an OSM extract, building and caching it on first use.

    Parameters
    ----------
    source:
        ``.geojson`` (ogr2ogr OSM lines) or ``.osm.pbf``.
    cache_dir:
        Directory for the cached arrays; one sub-directory per (file hash, speed table).
    speeds_kmh:
        Class speeds overriding :data:`DEFAULT_SPEEDS_KMH` (missing classes keep the default).
    progress:
        Optional ``progress(done, total)`` callback for the import (not called on a cache hit).

    Returns
    -------
    RoadNetwork
        Arrays memory-mapped read-only from the cache directory.
    """
    src = Path(source)
    if not src.is_file():
        raise FileNotFoundError(src)
    target = Path(cache_dir) / f"{src.name.split('.')[0]}-{cache_key(src, speeds_kmh)}"
    if not (target / "meta.json").is_file():
        name = src.name.lower()
        if name.endswith(".pbf"):
            ways = _iter_pbf_ways(src, progress)
        elif name.endswith((".geojson", ".json")):
            ways = _iter_geojson_ways(src, progress)
        else:
            raise ValueError(f"unsupported road file {src.name!r}: use .geojson or .osm.pbf")
        save_network(build_network(ways, speeds_kmh=speeds_kmh, source=str(src)), target)
    return open_network(target)
