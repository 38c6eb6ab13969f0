"""Replay tokens: one line that names an execution exactly — configuration, driver, build and choices.

``igbx1.<base64url of zlib-compressed JSON>``. The JSON holds the scenario
configuration, the barrier-site overrides, the variant file's path and
sha256, the build digest (:func:`build_digest`: the model, driver and stack
sources the execution ran) and the ranks. :func:`decode` raises
:class:`TokenError` with one line when the text does not parse or was made
by another build.
"""
from __future__ import annotations

import base64
import hashlib
import json
import pathlib
import zlib
from functools import lru_cache

from driver.igb.sites import SITE
from driver.platform.sites import SITE_PRIMITIVES

from .runner import DriverConfig
from .scenarios import ScenarioConfig

__all__ = ["encode", "decode", "TokenError", "build_digest"]

_PREFIX = "igbx1."
_ROOT = pathlib.Path(__file__).resolve().parents[2]
_SOURCES = ("sim/engine", "sim/host", "rtl_model", "driver", "stack", "sim/assembly", "sim/explore")


class TokenError(ValueError):
    """A token that does not parse, or does not match this build or its variant file."""


@lru_cache(maxsize=1)
def build_digest() -> str:
    """sha256 (16 hex digits) of every source file an execution runs: a token replays only on the same code."""
    h = hashlib.sha256()
    for d in _SOURCES:
        for p in sorted((_ROOT / d).rglob("*.py")):
            h.update(str(p.relative_to(_ROOT)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _file_digest(path: str) -> str:
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()[:16]


def encode(config: ScenarioConfig, driver: DriverConfig, ranks: tuple[int, ...]) -> str:
    body = {"config": config.__dict__, "sites": [list(s) for s in driver.sites], "variant": driver.variant,
            "variant_sha": _file_digest(driver.variant) if driver.variant else None,
            "build": build_digest(), "ranks": list(ranks)}
    raw = zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 9)
    return _PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> tuple[ScenarioConfig, DriverConfig, tuple[int, ...]]:
    """The execution a token names; TokenError (one line) otherwise."""
    token = token.strip()
    if not token.startswith(_PREFIX):
        raise TokenError(f"not a replay token (it should start with {_PREFIX!r})")
    try:
        text = token[len(_PREFIX):]
        raw = zlib.decompress(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        body = json.loads(raw)
        config = ScenarioConfig(**body["config"])
        sites = tuple((str(n), None if p is None else str(p)) for n, p in body["sites"])
        ranks = tuple(int(r) for r in body["ranks"])
        variant, variant_sha, build = body["variant"], body["variant_sha"], body["build"]
    except Exception as exc:   # any damage: the token is unusable, say so in one line
        raise TokenError(f"the replay token does not parse ({type(exc).__name__})") from None
    if build != build_digest():
        raise TokenError(f"the replay token was made by another build of igbsim ({build}, this is {build_digest()})")
    if variant is not None:
        if not pathlib.Path(variant).is_file():
            raise TokenError(f"the token's variant file {variant} is not there")
        if _file_digest(variant) != variant_sha:
            raise TokenError(f"the variant file {variant} changed since the token was made")
    if any(r < 0 for r in ranks):
        raise TokenError("the replay token holds a negative choice")
    for name, prim in sites:
        if name not in SITE or prim is not None and prim not in SITE_PRIMITIVES + ("__raw_writel", "__raw_readl"):
            raise TokenError(f"the replay token names barrier site {name} = {prim}, which this build does not have")
    return config, DriverConfig(sites, variant), ranks
