"""Every check that lets a lean path stand in for py-evm code (see the package docstring).

Two kinds of check, both here and nowhere else:

- **Identity**: what a message would run is py-evm's own object -- the computation class's
  method, the opcode's class and its `__call__`, the logic function, the database layer. A
  user's override, subclass or patch is never replaced: that path runs py-evm's (or the user's)
  code as written.
- **Fingerprint**: py-evm's own object is the version its lean copy was written against (py-evm
  0.12.1b1): the sha256 of its source text, first 16 hex digits (`fingerprint`). A py-evm whose
  method differs keeps its own method (and tests/lean fails until the copy is checked and the
  new fingerprint recorded in `PINNED`).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import logging
import textwrap
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from eth.db.accesslog import KeyAccessLoggerDB
from eth.db.account import AccountDB
from eth.db.hash_trie import HashTrie
from eth.db.storage import AccountStorageDB
from eth.rlp.accounts import Account
from eth.vm.computation import BaseComputation
from eth.vm.forks.berlin import logic as berlin_logic
from eth.vm.gas_meter import GasMeter
from eth.vm.logic import block as block_logic
from eth.vm.logic import call as call_logic
from eth.vm.logic import context as context_logic
from eth.vm.logic import flow as flow_logic
from eth.vm.logic import storage as storage_logic
from eth.vm.message import Message
from eth.vm.opcode import _FastOpcode
from eth.vm.spoof import SpoofTransaction
from eth.vm.transaction_context import BaseTransactionContext
from eth.vm.transient_storage import TransientStorage
from rlp.sedes.serializable import BaseSerializable
from trie import HexaryTrie

log = logging.getLogger(__name__)

# --- source fingerprints --------------------------------------------------------------------------
#: "module:qualified name" of py-evm code a lean path copies -> its fingerprint in py-evm 0.12.1b1
PINNED: dict[str, str] = {
    # the opening of JitComputationMixin.apply_computation (evm/computation.py) up to the loop
    "eth.vm.computation:BaseComputation.apply_computation": "4645a2de61ddb378",
    # txmessage._build_evm_message: py-evm's three versions of the method
    "eth.vm.forks.frontier.state:FrontierTransactionExecutor.build_evm_message": "191e8e3049d06771",
    "eth.vm.forks.london.state:LondonTransactionExecutor.build_evm_message": "3ef800f286d2d2e1",
    "eth.vm.forks.cancun.state:CancunTransactionExecutor.build_evm_message": "0a3e38aac2aaffa9",
    # statedb/codec.new_account: the account record py-evm's constructor builds
    "eth.rlp.accounts:Account.__init__": "7da54cf208bb73a0",
    # statedb/clearcount.py: a storage wipe and a revert of py-evm's AccountStorageDB
    "eth.db.storage:AccountStorageDB.delete": "4b98850f408c968e",
    "eth.db.storage:AccountStorageDB.discard": "3611c66c67f9f531",
    # statedb/journal.py: what the native journal reproduces (its JOURNAL_PINNED)
    "eth.db.account:AccountDB.get_storage": "3ad7fe3eb6c60b52",
    "eth.db.account:AccountDB.set_storage": "d140e223c7a55356",
    "eth.db.account:AccountDB.delete_storage": "b5a8a5f99297cd28",
    "eth.db.account:AccountDB._wipe_storage": "80701702779978f3",
    "eth.db.account:AccountDB.get_balance": "552c9185d15485df",
    "eth.db.account:AccountDB.set_balance": "cd3331366c7a568c",
    "eth.db.account:AccountDB.get_nonce": "fa8dd86091d33234",
    "eth.db.account:AccountDB.set_nonce": "52c5f0789df0693f",
    "eth.db.account:AccountDB.get_code": "cb16443d2e6a440e",
    "eth.db.account:AccountDB.set_code": "73047dcb80584c48",
    "eth.db.account:AccountDB.get_code_hash": "78449b55f071d331",
    "eth.db.account:AccountDB.delete_code": "6054477d87f422be",
    "eth.db.account:AccountDB.account_has_code_or_nonce": "d5d27e5503d909c3",
    "eth.db.account:AccountDB.delete_account": "bfcf3faf2e809eab",
    "eth.db.account:AccountDB.account_exists": "7cf187c9cfac8651",
    "eth.db.account:AccountDB.touch_account": "a4c945845b7710cc",
    "eth.db.account:AccountDB.account_is_empty": "5bb31fb94f74b97d",
    "eth.db.account:AccountDB.is_address_warm": "c7f709e247cc54d7",
    "eth.db.account:AccountDB.mark_address_warm": "ce426267fd16ec3a",
    "eth.db.account:AccountDB.is_storage_warm": "9fb06b341173cd57",
    "eth.db.account:AccountDB.mark_storage_warm": "e443236f3068328a",
    "eth.db.account:AccountDB.record": "688b34132c2244db",
    "eth.db.account:AccountDB.discard": "3d1e7c2c9ab8dcdb",
    "eth.db.account:AccountDB.commit": "177b8f1c94379b57",
    "eth.db.account:AccountDB.lock_changes": "4666389938f84551",
    "eth.db.storage:AccountStorageDB.get": "fea4a40d4d5526fc",
    "eth.db.storage:AccountStorageDB.set": "d3d188eb1ddc74ee",
    "eth.db.storage:AccountStorageDB.lock_changes": "4c4bfba1b9b1088b",
    # evm/computation.py: a computation built as py-evm's constructors build it
    "eth.vm.computation:BaseComputation.__init__": "607b431c0fdc5e6b",
    "eth.vm.forks.shanghai.computation:ShanghaiComputation.__init__": "9dbbbaab1665d3b7",
    # lean/sload.py and evm/computation.py: a charge py-evm's GasMeter takes quietly, and the
    # meter py-evm's computations configure (built without its constructor's call)
    "eth.vm.gas_meter:GasMeter.consume_gas": "251db89822497b13",
    # evm/computation.py (jit_observe): native code charges, returns and refunds gas past these
    "eth.vm.gas_meter:GasMeter.return_gas": "9650121da56cb2a8",
    "eth.vm.gas_meter:GasMeter.refund_gas": "990f5fdbd3e55339",
    "eth.vm.gas_meter:GasMeter.__init__": "b27ba3565e8f8438",
    "eth.vm.computation:BaseComputation._configure_gas_meter": "b1de1e1d6693efe2",
    "eth.vm.forks.istanbul.computation:IstanbulComputation._configure_gas_meter":
        "b110ef5c2302fb2f",
    "eth.vm.forks.constantinople.computation:ConstantinopleComputation._configure_gas_meter":
        "b110ef5c2302fb2f",
    # records.new_message: the message py-evm's constructor builds (its checks inlined)
    "eth.vm.message:Message.__init__": "33f0117e69bd1c0b",
    # records.transaction_fields: what SpoofTransaction's attribute reads return
    "eth._utils.spoof:SpoofAttributes.__getattr__": "4d34c3b1abdc54ac",
    # statedb/transient.py: py-evm's transient storage and the journal behaviour it reproduces
    "eth.vm.transient_storage:TransientStorage.__init__": "ad6a95aa939a6cd6",
    "eth.vm.transient_storage:TransientStorage._get_key": "7117f66a530fb694",
    "eth.vm.transient_storage:TransientStorage.get_transient_storage": "dde0483a50bb4872",
    "eth.vm.transient_storage:TransientStorage.set_transient_storage": "06e8a81da6708583",
    "eth.vm.transient_storage:TransientStorage.record": "b2e4e463b6eb7aaa",
    "eth.vm.transient_storage:TransientStorage.commit": "b7da7c602ccefec3",
    "eth.vm.transient_storage:TransientStorage.discard": "008867314140d263",
    "eth.vm.transient_storage:TransientStorage.clear": "05b85921c829852c",
    "eth.db.journal:JournalDB.__init__": "90c4243b401525c3",
    "eth.db.journal:JournalDB.__getitem__": "12203b8b73d3af78",
    "eth.db.journal:JournalDB.clear": "53b653bf6d5da408",
    "eth.db.journal:Journal.record_checkpoint": "55d3457375fb9310",
    "eth.db.journal:Journal.commit_checkpoint": "c05b9bbf3cb1e8ff",
    "eth.db.journal:Journal.discard": "1250f2cd06ae289b",
    "eth.db.journal:Journal.clear": "e3ee0188cdbb1302",
    "eth.db.journal:Journal.__getitem__": "b6b923cc89c8c495",
    "eth.db.journal:Journal.__setitem__": "96ad81dd5a3e712c",
    "eth.db.journal:Journal.pop_all": "136a073e4b58546c",
}  # fmt: skip

#: what statedb/transient.py reproduces
TRANSIENT_PINNED = tuple(
    name for name in PINNED if name.startswith(("eth.vm.transient_storage:", "eth.db.journal:"))
)


def fingerprint(obj: Any) -> str | None:
    """A fingerprint of `obj`'s source text (None when the source cannot be read)."""
    obj = getattr(obj, "__func__", obj)  # a classmethod's function
    try:
        source = inspect.getsource(obj)
    except (OSError, TypeError):
        return None
    return hashlib.sha256(textwrap.dedent(source).encode()).hexdigest()[:16]


def resolve(name: str) -> Any:
    """The object a `PINNED` name stands for, as installed now (its owner's own attribute)."""
    module_name, _, qualified = name.partition(":")
    *owners, attribute = qualified.split(".")
    owner: Any = importlib.import_module(module_name)
    for part in owners:
        owner = getattr(owner, part)
    return vars(owner).get(attribute)


def pinned(name: str) -> bool:
    """Whether py-evm's object `name` is the version its lean copy was written against (read
    anew on each call: a patched or upgraded method is seen)."""
    obj = resolve(name)
    return obj is not None and fingerprint(obj) == PINNED[name]


def is_pinned_transient_storage(transient_storage_class: Any) -> bool:
    """Whether `transient_storage_class` is py-evm's `TransientStorage` itself, it and its
    journal the versions `statedb.transient` was written against."""
    return transient_storage_class is TransientStorage and all(
        pinned(name) for name in TRANSIENT_PINNED
    )


def is_hash_trie(trie: Any) -> bool:
    """Whether `trie` is py-evm's `HashTrie` itself (its attributes are its wrapped trie's)."""
    return trie.__class__ is HashTrie


# --- the computation's apply_computation ----------------------------------------------------------
_APPLY_COMPUTATION = "eth.vm.computation:BaseComputation.apply_computation"


def apply_computation_pinned() -> bool:
    """Whether py-evm's `apply_computation` is the one whose opening the JIT computation copies."""
    return pinned(_APPLY_COMPUTATION)


_INITS = [resolve(name) if pinned(name) else object() for name in (
    "eth.vm.forks.shanghai.computation:ShanghaiComputation.__init__",
    "eth.vm.computation:BaseComputation.__init__")]  # fmt: skip


def computation_init_kind(cls: type) -> int:
    """How a JIT computation of `cls` may be built (`evm.computation`): 1 as py-evm's
    BaseComputation.__init__ builds it, 2 as Shanghai's after it, 0 by calling `cls`."""
    mro = cls.__mro__
    chain = [k.__dict__["__init__"] for k in mro[: mro.index(BaseComputation) + 1]
             if "__init__" in k.__dict__]  # fmt: skip
    if cls.__new__ is not object.__new__ or chain not in (_INITS[1:], _INITS):  # type: ignore[comparison-overlap]
        return 0
    return len(chain)


# --- transaction messages (txmessage.py) ----------------------------------------------------------
#: (PINNED name of a py-evm build_evm_message, the family of its lean copy)
BUILD_EVM_MESSAGE: tuple[tuple[str, str], ...] = (
    ("eth.vm.forks.frontier.state:FrontierTransactionExecutor.build_evm_message", "frontier"),
    ("eth.vm.forks.london.state:LondonTransactionExecutor.build_evm_message", "london"),
    ("eth.vm.forks.cancun.state:CancunTransactionExecutor.build_evm_message", "cancun"),
)


def pinned_build_evm_messages() -> dict[Any, str]:
    """py-evm's build_evm_message -> the family of its lean copy, for each method of the
    installed py-evm that is the one its copy was written against."""
    found = {}
    for name, family in BUILD_EVM_MESSAGE:
        if pinned(name):
            found[resolve(name)] = family
        else:
            log.debug("pyevm-jit: %s is not the one of py-evm 0.12.1b1: kept as it is", name)
    return found


# --- calls (calls.py) -----------------------------------------------------------------------------
#: computation methods the lean call path inlines or relies on being py-evm's
CHILD_METHODS = (
    "prepare_child_message",
    "apply_child_computation",
    "generate_child_computation",
    "add_child_computation",
    "extend_memory",
    "memory_read_bytes",
    "memory_write",
    "consume_gas",
    "return_gas",
)

#: py-evm's get_call_params implementations -> the name of their reader in calls.py
CALL_PARAMS: dict[Any, str] = {
    call_logic.Call.get_call_params: "call",
    call_logic.CallByzantium.get_call_params: "call_byzantium",
    call_logic.CallCode.get_call_params: "callcode",
    call_logic.DelegateCall.get_call_params: "delegatecall",
    call_logic.StaticCall.get_call_params: "staticcall",
}


def keeps_pyevm_methods(cls: type, names: Iterable[str], base: type = BaseComputation) -> bool:
    """Whether `cls` runs `base`'s own method for every one of `names`."""
    return all(getattr(cls, name, None) is getattr(base, name, None) for name in names)


def call_params_kind(opcode_fn: Any) -> str | None:
    """The reader name of a call opcode run by py-evm's `BaseCall.__call__` with one of py-evm's
    `get_call_params` (None for anything else)."""
    if opcode_fn is None or type(opcode_fn).__call__ is not call_logic.BaseCall.__call__:
        return None
    return CALL_PARAMS.get(type(opcode_fn).get_call_params)


# --- environment words (env.py) -------------------------------------------------------------------
#: py-evm's logic functions of environment opcodes -> the name of the value they push (env.py)
ENV_LOGIC: dict[Any, str] = {
    context_logic.address: "address",
    context_logic.origin: "origin",
    context_logic.caller: "caller",
    context_logic.callvalue: "callvalue",
    context_logic.gasprice: "gasprice",
    context_logic.chain_id: "chain_id",
    block_logic.coinbase: "coinbase",
    block_logic.timestamp: "timestamp",
    block_logic.number: "number",
    block_logic.difficulty: "difficulty",
    block_logic.gaslimit: "gaslimit",
    block_logic.basefee: "basefee",
    block_logic.mixhash: "mixhash",
    block_logic.blob_base_fee: "blob_base_fee",
}


def env_logic_name(opcode_fn: Any) -> str | None:
    """The ENV_LOGIC name of the opcode's logic function, when it is py-evm's."""
    return ENV_LOGIC.get(getattr(opcode_fn, "logic_fn", None))


# --- SLOAD (sload.py) -----------------------------------------------------------------------------
#: computation methods py-evm's SLOAD logic calls, which the lean SLOAD does not call
SLOAD_STACK_METHODS = ("stack_pop1_int", "stack_push_int")
#: how `sload_kind` classifies a table's SLOAD
SLOAD_OTHER, SLOAD_FRONTIER, SLOAD_BERLIN, SLOAD_BERLIN_WARM_PATCHED = 0, 1, 2, 3
_FAST_OPCODE_CALL = _FastOpcode.__call__
_MARK_STORAGE_WARM = berlin_logic._mark_storage_warm


def sload_kind(opcode_fn: Any) -> int:
    """Which of py-evm's SLOADs `opcode_fn` is: py-evm's opcode class with `storage.sload`
    (SLOAD_FRONTIER) or `sload_eip2929` (SLOAD_BERLIN; SLOAD_BERLIN_WARM_PATCHED when py-evm's
    module-level `_mark_storage_warm` was replaced: the lean path calls it as it is), or
    SLOAD_OTHER. Checked on every SLOAD miss."""
    if type(opcode_fn).__call__ is not _FAST_OPCODE_CALL:
        return SLOAD_OTHER
    logic = opcode_fn.logic_fn
    if logic is berlin_logic.sload_eip2929:
        if berlin_logic._mark_storage_warm is _MARK_STORAGE_WARM:
            return SLOAD_BERLIN
        return SLOAD_BERLIN_WARM_PATCHED
    if logic is storage_logic.sload:
        return SLOAD_FRONTIER
    return SLOAD_OTHER


def _pinned_or_none(name: str) -> Any:
    return resolve(name) if pinned(name) else object()


_GAS_METER_CONSUME = _pinned_or_none("eth.vm.gas_meter:GasMeter.consume_gas")
_GAS_METER_INIT = _pinned_or_none("eth.vm.gas_meter:GasMeter.__init__")


_GAS_METER_RETURN = _pinned_or_none("eth.vm.gas_meter:GasMeter.return_gas")
_GAS_METER_REFUND = _pinned_or_none("eth.vm.gas_meter:GasMeter.refund_gas")


def gas_meter_bypassed(meter: Any, logger: Any) -> str:
    """Why native code may not charge gas past `meter` for a message whose computation logs
    to `logger` ('' when it may): native code counts gas itself, so the meter must be py-evm's
    GasMeter with py-evm's own charging methods (on the class, not replaced on the instance),
    and neither the computation's logger nor the meter's shows DEBUG2 (py-evm then logs every
    opcode and every charge; eth-utils caches `show_debug2` per logger, as py-evm reads it)."""
    if meter.__class__ is not GasMeter:
        return "a gas meter other than py-evm's"
    if (
        GasMeter.consume_gas is not _GAS_METER_CONSUME
        or GasMeter.return_gas is not _GAS_METER_RETURN
        or GasMeter.refund_gas is not _GAS_METER_REFUND
    ):
        return "py-evm's GasMeter with a method patched"
    own = meter.__dict__
    if "consume_gas" in own or "return_gas" in own or "refund_gas" in own:
        return "a gas meter with a method of its own"
    if logger.show_debug2 or GasMeter.logger.show_debug2:
        return "DEBUG2 logging (py-evm logs every opcode and charge)"
    return ""


def quiet_gas_meter(meter: Any) -> bool:
    """Whether `meter` is py-evm's GasMeter with its own consume_gas and its debug2 line off:
    then a charge it can pay is exactly `gas_remaining -= amount` (a charge it cannot pay
    goes through consume_gas for its error)."""
    return (
        meter.__class__ is GasMeter
        and GasMeter.consume_gas is _GAS_METER_CONSUME
        and not meter.logger.show_debug2
    )


#: py-evm's `_configure_gas_meter` methods -> whether the meter they make refunds with the
#: strategy their module names `allow_negative_refund_strategy` (else GasMeter's default)
_CONFIGURE_GAS_METER = {
    _pinned_or_none(name): negative
    for name, negative in (
        ("eth.vm.computation:BaseComputation._configure_gas_meter", False),
        ("eth.vm.forks.istanbul.computation:IstanbulComputation._configure_gas_meter", True),
        ("eth.vm.forks.constantinople.computation:ConstantinopleComputation."
         "_configure_gas_meter", True),
    )
}  # fmt: skip


def gas_meter_maker(cls: type) -> Any:
    """For a computation class whose `_configure_gas_meter` is one of py-evm's (judged with
    the class, `evm.computation`): `make(gas)`, the GasMeter that method returns, built
    without the constructor's call while GasMeter.__init__ is py-evm's and `gas` a uint256
    (else by calling the method); None for any other class."""
    method = getattr(cls, "_configure_gas_meter", None)
    function = getattr(method, "__func__", method)
    negative = _CONFIGURE_GAS_METER.get(function)
    if negative is None or function is None:
        return None
    names = function.__globals__
    new = object.__new__

    def make(computation: Any, gas: int) -> Any:
        if (
            GasMeter.__init__ is not _GAS_METER_INIT
            or names["GasMeter"] is not GasMeter
            or gas.__class__ is not int
            or not 0 <= gas < _UINT256_LIMIT
        ):
            return computation._configure_gas_meter()
        meter = new(GasMeter)
        meter.refund_strategy = (
            names["allow_negative_refund_strategy"] if negative else _DEFAULT_REFUND
        )
        meter.start_gas = gas
        meter.gas_remaining = gas
        meter.gas_refunded = 0
        return meter

    return make


_UINT256_LIMIT = 1 << 256
_DEFAULT_REFUND = (GasMeter.__init__.__defaults__ or (None,))[0]


# --- messages without code ------------------------------------------------------------------------
def runs_nothing(opcodes: Mapping[int, Any]) -> bool:
    """Whether a message without code does nothing with this table: its STOP is py-evm's (the
    interpreter would run it once: no gas, no state, no output), and so is its class's
    `__call__` (a tracer patched there would see that STOP)."""
    stop = opcodes.get(0)
    return (
        type(stop) is _FastOpcode
        and _FastOpcode.__call__ is _FAST_OPCODE_CALL
        and stop.logic_fn is flow_logic.stop
        and stop.gas_cost == 0
    )


# --- log entries (evm/state_path.py) ------------------------------------------------------------
def pyevm_log_counter(computation: Any) -> Iterator[int] | None:
    """The transaction context's log counter when the computation's `add_log_entry` and the
    context's `get_next_log_counter` are py-evm's (then an entry may be appended as py-evm's
    method appends it), else None."""
    context: Any = computation.transaction_context  # py-evm's: its `_log_counter` is read
    if (
        type(computation).add_log_entry is BaseComputation.add_log_entry
        and type(context).get_next_log_counter is BaseTransactionContext.get_next_log_counter
    ):
        counter: Iterator[int] = context._log_counter
        return counter
    return None


# --- the state database (statedb/) ----------------------------------------------------------------
def is_account_db(account_db_class: Any) -> bool:
    """Whether `account_db_class` is py-evm's AccountDB or a subclass of it."""
    return isinstance(account_db_class, type) and issubclass(account_db_class, AccountDB)


_ACCOUNT_DB_DICT = dict(vars(AccountDB))  # AccountDB's attributes as imported


def is_exact_account_db(account_db_class: Any, pins: Iterable[str]) -> bool:
    """py-evm's AccountDB itself, its attributes as imported, `pins` the recorded versions."""
    exact = account_db_class is AccountDB and vars(AccountDB) == _ACCOUNT_DB_DICT
    return exact and all(map(pinned, pins))


def keeps_account_db_methods(account_db_class: type, names: Iterable[str]) -> bool:
    """Whether `account_db_class` runs py-evm AccountDB's own method for every one of `names`."""
    return keeps_pyevm_methods(account_db_class, names, AccountDB)


def logged_trie_keys(wrapped: Any, hexary: Any) -> set[bytes] | None:
    """The key set of py-evm's access logger when `wrapped` (AccountDB's `_trie_logger`) is that
    logger over a HashTrie over the HexaryTrie `hexary`: then the lean trie walk may read the
    account trie in its place and record the key as the logger would. None otherwise."""
    if (
        type(wrapped) is KeyAccessLoggerDB
        and type(wrapped.wrapped_db) is HashTrie
        and wrapped.wrapped_db._db is hexary
        and type(hexary) is HexaryTrie  # type: ignore[comparison-overlap]
        and type(getattr(wrapped, "_keys_read", None)) is set
    ):
        keys: set[bytes] = wrapped._keys_read
        return keys
    return None


# --- account records (statedb/codec.py) -----------------------------------------------------------
#: the private attributes rlp gives Account's four fields, in field order
ACCOUNT_FIELD_ATTRS = ("_nonce", "_balance", "_storage_root", "_code_hash")


def plain_account_init() -> Any | None:
    """py-evm's `Account.__init__` when the record it builds can be built directly: it is the
    pinned version (defaults, then rlp's constructor), rlp's `BaseSerializable.__init__` and
    `object.__new__` are what construct it, and a sample built both ways has the same
    `__dict__` (an instance of Account with the four field attributes). None otherwise."""
    init = vars(Account).get("__init__")
    if (
        not pinned("eth.rlp.accounts:Account.__init__")
        or Account.__mro__[1].__init__ is not BaseSerializable.__init__
        or Account.__new__ is not object.__new__
        or tuple(Account._meta.field_attrs) != ACCOUNT_FIELD_ATTRS
    ):
        return None
    sample = (7, 10**18, b"\x01" * 32, b"\x02" * 32)
    built = object.__new__(Account)
    built.__dict__.update(zip(ACCOUNT_FIELD_ATTRS, sample, strict=True))
    stock = Account(*sample)
    if built.__dict__ != stock.__dict__ or tuple(built) != sample or built != stock:
        return None
    return init


def account_init_is(init: Any) -> bool:
    """Whether `Account.__init__` is still `init` (checked on every record built)."""
    return Account.__init__ is init


# --- the storage clear count (statedb/clearcount.py) ----------------------------------------------
def pinned_storage_methods() -> dict[str, Any]:
    """name -> py-evm's AccountStorageDB method, for `delete` and `discard` where they are the
    versions the copies were written against."""
    found = {}
    for name in ("delete", "discard"):
        key = f"eth.db.storage:AccountStorageDB.{name}"
        if pinned(key):
            found[name] = resolve(key)
    return found


def storage_method_is(name: str, method: Any) -> bool:
    """Whether py-evm's AccountStorageDB still has `method` as `name` (checked per call)."""
    return method is not None and vars(AccountStorageDB).get(name) is method


# --- blocks (block.py) ----------------------------------------------------------------------------
PINNED.update({
    # block.py keeps what py-evm's get_block builds with these from_headers
    "eth.vm.base:VM.get_block": "58592c36309ac0c4",
    "eth.vm.forks.frontier.blocks:FrontierBlock.from_header": "84a3af62203e57a0",
    "eth.vm.forks.shanghai.blocks:ShanghaiBlock.from_header": "e986945ba734267f",
})  # fmt: skip
_GET_BLOCK = "eth.vm.base:VM.get_block"
_FROM_HEADERS = ("eth.vm.forks.frontier.blocks:FrontierBlock.from_header",
                 "eth.vm.forks.shanghai.blocks:ShanghaiBlock.from_header")  # fmt: skip


def pinned_block_methods() -> tuple[Any, tuple[Any, ...]] | None:
    """(py-evm's `VM.get_block`, the functions of its `from_header`s) where all are the
    versions block.py was written against, else None."""
    if not all(pinned(name) for name in (_GET_BLOCK, *_FROM_HEADERS)):
        return None
    return resolve(_GET_BLOCK), tuple(resolve(name).__func__ for name in _FROM_HEADERS)


def runs_get_block(vm_class: Any, get_block: Any) -> bool:
    """Whether `vm_class` resolves `get_block` to py-evm's `get_block` (checked per call)."""
    return getattr(vm_class, "get_block", None) is get_block


def builds_blocks_with(block_class: Any, from_headers: tuple[Any, ...]) -> bool:
    """Whether `block_class.from_header` is one of py-evm's `from_headers` (checked per call)."""
    return getattr(getattr(block_class, "from_header", None), "__func__", None) in from_headers


# --- messages and spoofed transactions (records.py) -----------------------------------------------
_MESSAGE_INIT = resolve("eth.vm.message:Message.__init__")
_MESSAGE_PINNED = pinned("eth.vm.message:Message.__init__") and Message.__new__ is object.__new__
_SPOOF_PINNED = pinned("eth._utils.spoof:SpoofAttributes.__getattr__")
_SPOOF_CLASSES = tuple(dict(vars(k)) for k in SpoofTransaction.__mro__[:-1])  # as imported


def message_is_pyevms(cls: Any) -> bool:
    """Whether `cls` is py-evm's Message with the constructor `records.new_message` copies."""
    return cls is Message and _MESSAGE_PINNED and Message.__init__ is _MESSAGE_INIT


def spoof_class_is_pyevms(cls: type) -> bool:
    """Whether `cls` is SpoofTransaction, it and its base as py-evm made them (`records`
    judges it again whenever CPython's version tag of the class moves)."""
    contents = tuple(dict(vars(k)) for k in cls.__mro__[:-1])
    return cls is SpoofTransaction and _SPOOF_PINNED and contents == _SPOOF_CLASSES


def spoof_parts(transaction: Any) -> tuple[Any, dict[str, Any]] | None:
    """(target, overrides) of py-evm's `SpoofTransaction` with nothing set on the instance (its
    reads then all go to its `__getattr__` while `spoof_class_is_pyevms`), else None."""
    state: Any = getattr(transaction, "__dict__", None)
    if transaction.__class__ is not SpoofTransaction or len(state) != 2 or not _SPOOF_PINNED:
        return None
    return state["spoof_target"], state["overrides"]
