"""Bench cases: state-test-like JSON files `{name: {env, pre, transaction: [tx]}}`, found and
loaded (`discover_files`, `load_cases`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import to_canonical_address

from pyevm_jit.conformance.fixtures import bench_dir
from pyevm_jit.files import load_json
from pyevm_jit.testing.block import BlockEnv

DEFAULT_FORK = "cancun"


class BenchInputError(Exception):
    """A bench file or case that cannot be used (reported as one line by the CLI)."""


@dataclass(frozen=True)
class BenchTx:
    sender: bytes
    to: bytes
    data: bytes
    value: int
    gas_limit: int
    gas_price: int


@dataclass(frozen=True)
class BenchCase:
    name: str
    path: str
    env: dict[str, Any]
    pre: dict[str, Any]  # raw (hex) account state as in the file
    tx: BenchTx

    @property
    def block(self) -> BlockEnv:
        """The block the case's transaction runs in."""
        env = self.env
        return BlockEnv(
            coinbase=to_canonical_address(env.get("currentCoinbase", "0x" + "00" * 20)),
            number=hex_int(env.get("currentNumber", "0x1")),
            timestamp=hex_int(env.get("currentTimestamp", "0x1")),
            gas_limit=hex_int(env.get("currentGasLimit", hex(2**63 - 1))),
            base_fee=hex_int(env.get("currentBaseFee", "0x0")),
            prev_randao=hex_bytes(env.get("currentRandom", "0x" + "00" * 32)).rjust(32, b"\0"),
        )

    def codes(self) -> list[bytes]:
        """Every distinct non-empty code in the pre-state, in file order."""
        seen: list[bytes] = []
        for account in self.pre.values():
            code = hex_bytes(account.get("code", "0x"))
            if code and code not in seen:
                seen.append(code)
        return seen


def hex_int(value: Any) -> int:
    if isinstance(value, int):
        return value
    text = str(value)
    return int(text, 16) if text.lower().startswith("0x") else int(text)


def hex_bytes(value: str) -> bytes:
    text = value[2:] if value.lower().startswith("0x") else value
    return bytes.fromhex(text)


def discover_files(paths: Sequence[str | Path]) -> list[Path]:
    """JSON files named directly, or found (sorted) in the directories named."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.json") if p.is_file())
            if not found:
                raise BenchInputError(f"no .json bench files in {path}")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise BenchInputError(f"no such file or directory: {path}")
    return files


def load_cases(path: Path) -> list[BenchCase]:
    try:
        data = load_json(path)
    except (OSError, ValueError) as exc:
        raise BenchInputError(f"{path}: cannot read JSON ({exc})") from None
    if not isinstance(data, dict) or not data:
        raise BenchInputError(f"{path}: expected an object {{name: case}}")
    cases = []
    for name, body in data.items():
        try:
            txs = body["transaction"]
            raw = txs[0] if isinstance(txs, list) else txs
            if isinstance(raw.get("data"), list):  # state-test style: first index of each
                raw = {
                    **raw,
                    "data": raw["data"][0],
                    "gasLimit": raw["gasLimit"][0],
                    "value": raw["value"][0],
                }
            tx = BenchTx(
                sender=to_canonical_address(raw["sender"]),
                to=to_canonical_address(raw["to"]),
                data=hex_bytes(raw.get("data", "0x")),
                value=hex_int(raw.get("value", "0x0")),
                gas_limit=hex_int(raw["gasLimit"]),
                gas_price=hex_int(raw.get("gasPrice", "0x0")),
            )
            case = BenchCase(str(name), str(path), dict(body["env"]), dict(body["pre"]), tx)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise BenchInputError(f"{path}: case {name!r} is malformed ({exc!r})") from None
        cases.append(case)
    return cases


def find_case(path: Path, name: str) -> BenchCase:
    for case in load_cases(path):
        if case.name == name:
            return case
    raise BenchInputError(f"{path}: no case named {name!r}")


def default_bench_dir() -> Path:
    """Where the bench cases are (`conformance.fixtures.bench_dir`)."""
    return bench_dir()
