"""The plugin manager: built-ins first, then entry points one by one (torch-free).

Every plugin — the built-in texture modality and ONNX exporter included — registers through
the hooks in :mod:`ganforge.core.hookspecs`. A plugin that fails (import error, a raising
register hook, a misspelled hook) costs one warning line on stderr and is skipped as a whole:
nothing it registered is kept. ``GANFORGE_STRICT_PLUGINS=1`` turns such a failure into an error;
``GANFORGE_DISABLE_PLUGINS=a,b`` blocks plugins by name.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .codec import Codec, as_codec
from .components import Exporter, Host, Metric, Modality, ModelFamily, Registry, family_key, resolve
from .errors import GanforgeError

GROUP = "ganforge"
STRICT_ENV = "GANFORGE_STRICT_PLUGINS"
DISABLE_ENV = "GANFORGE_DISABLE_PLUGINS"

#: Built-in plugins, by entry-point name. Loaded first and by module path, so they work even
#: when the package's installation metadata (and so its entry points) is missing.
BUILTINS: dict[str, str] = {
    "texture": "ganforge.core.modalities.texture",
    "image": "ganforge.core.modalities.image",
    "music": "ganforge.core.modalities.music",
    "text": "ganforge.core.modalities.text",
    "onnx": "ganforge.exporters.onnx",
    "blender": "ganforge.plugins.blender.host",
    "editor": "ganforge.plugins.editor.host",
    "midi": "ganforge.plugins.midi",
}

#: Registration hooks: hook name -> (registry attribute, component class, kind label).
REGISTRATION_HOOKS: dict[str, tuple[str, type, str]] = {
    "ganforge_register_modalities": ("modalities", Modality, "modality"),
    "ganforge_register_families": ("families", ModelFamily, "family"),
    "ganforge_register_exporters": ("exporters", Exporter, "exporter"),
    "ganforge_register_hosts": ("hosts", Host, "host"),
    "ganforge_register_metrics": ("metrics", Metric, "metric"),
}


@dataclass
class PluginRecord:
    """What ``ganforge plugins`` shows for one plugin."""

    name: str
    source: str  # "builtin" | "entry point"
    module: str
    dist: str | None = None
    version: str | None = None
    path: str | None = None
    hooks: list[str] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)  # "kind:name"
    error: str | None = None
    disabled: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _State:
    manager: pluggy.PluginManager
    registry: Registry
    records: list[PluginRecord]
    codecs: dict[str, Codec] = field(default_factory=dict)  # modality -> its codec, made once


_state: _State | None = None


def component_key(kind: str, component: Any) -> str:
    """Registry key: families and metrics are named per modality (``texture/texture``)."""
    if kind in ("family", "metric"):
        return family_key(component.modality, component.name)
    return component.name


def _warn(message: str, registry: Registry) -> None:
    registry.warnings.append(message)
    print(f"ganforge: {message}", file=sys.stderr)


def _strict() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _disabled() -> set[str]:
    return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _candidates() -> list[tuple[PluginRecord, Callable[[], Any]]]:
    """Built-ins first (by module path), then installed entry points by name (then distribution)."""
    out: list[tuple[PluginRecord, Callable[[], Any]]] = []
    for name, module in BUILTINS.items():
        out.append((PluginRecord(name, "builtin", module, dist="ganforge"),
                    lambda module=module: importlib.import_module(module)))
    try:
        eps = md.entry_points(group=GROUP)
    except Exception as e:  # a corrupt dist-info must not take the tool down
        print(f"ganforge: could not read entry points: {_one_line(e)}", file=sys.stderr)
        eps = ()
    seen: dict[str, tuple[str, str | None]] = {}  # entry-point name -> (value, dist name)
    def order(ep: Any) -> tuple[str, str]:  # by name, then distribution: the same on every machine
        dist = getattr(ep, "dist", None)
        return ep.name, (dist.metadata["Name"] or "") if dist else ""

    for ep in sorted(eps, key=order):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist else None
        if ep.name in BUILTINS and ep.value == BUILTINS[ep.name]:
            # Our own entry point: attach the installed version to the built-in record.
            out[list(BUILTINS).index(ep.name)][0].version = dist.version if dist else None
            continue
        record = PluginRecord(ep.name, "entry point", ep.value, dist=dist_name,
                              version=dist.version if dist else None)
        if ep.name in seen:
            if seen[ep.name] == (ep.value, dist_name):
                continue  # the same distribution found twice on sys.path
            other = seen[ep.name][1] or seen[ep.name][0]
            out.append((record, lambda name=ep.name, other=other: _name_taken(name, other)))
            continue
        seen[ep.name] = (ep.value, dist_name)
        out.append((record, ep.load))
    return out


def _name_taken(name: str, other: str) -> Any:
    raise ValueError(f"the plugin name '{name}' is already used by {other}")


def _fail(record: PluginRecord, exc: BaseException | str, registry: Registry) -> None:
    record.error = exc if isinstance(exc, str) else _one_line(exc)
    dist = f" (dist {record.dist})" if record.dist and record.source != "builtin" else ""
    message = f"plugin '{record.name}'{dist} failed to load: {record.error}"
    if _strict():
        raise GanforgeError(f"{message} ({STRICT_ENV} is set)")
    _warn(message, registry)


def _call_impls(pm: pluggy.PluginManager, plugin: Any, hook_name: str, **kwargs: Any) -> None:
    """Call one plugin's implementations of one hook (so failures stay that plugin's)."""
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        if impl.plugin is plugin:
            impl.function(*(kwargs[a] for a in impl.argnames))


def _load_one(pm: pluggy.PluginManager, record: PluginRecord, loader: Callable[[], Any],
              registry: Registry) -> None:
    try:
        plugin = loader()
    except (Exception, SystemExit) as e:  # SystemExit: a plugin calling sys.exit() on import
        return _fail(record, e, registry)
    record.path = getattr(plugin, "__file__", None)
    try:
        pm.register(plugin, name=record.name)
    except ValueError as e:  # already registered under another name
        return _fail(record, e, registry)
    except pluggy.PluginValidationError as e:
        return _fail(record, f"invalid hook: {e}", registry)
    try:
        pm.check_pending()  # a misspelled hook (e.g. ganforge_register_modalitys)
    except pluggy.PluginValidationError as e:
        pm.unregister(plugin)
        return _fail(record, f"unknown hook: {e}", registry)
    record.hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])

    # Stage everything the plugin registers; commit only when all its hooks succeeded.
    staged: list[tuple[str, str, Any]] = []
    for hook_name, (attr, cls, kind) in REGISTRATION_HOOKS.items():
        def register(component: Any, attr: str = attr, cls: type = cls, kind: str = kind) -> None:
            if not isinstance(component, cls):
                raise TypeError(f"{kind} hook registered a {type(component).__name__}, not a {cls.__name__}")
            staged.append((attr, kind, component))
        try:
            _call_impls(pm, plugin, hook_name, register=register)
        except Exception as e:
            pm.unregister(plugin)
            return _fail(record, e, registry)

    for attr, kind, component in staged:
        key = component_key(kind, component)
        owner = registry.owners.get(f"{kind}:{key}")
        if owner is not None:
            _warn(f"plugin '{record.name}' registers {kind} '{key}', already registered by "
                  f"'{owner}'; keeping '{owner}'s", registry)
            continue
        getattr(registry, attr)[key] = component
        registry.owners[f"{kind}:{key}"] = record.name
        record.registered.append(f"{kind}:{key}")


def _load() -> _State:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    registry, records = Registry(), []
    blocked = _disabled()
    for record, loader in _candidates():
        records.append(record)
        if record.name in blocked:
            record.disabled = True
            continue
        _load_one(pm, record, loader, registry)
    return _State(pm, registry, records)


def _get() -> _State:
    global _state
    if _state is None:
        _state = _load()
    return _state


def get_state() -> object:
    """The current load (its identity changes on :func:`reset`), for caches built on it."""
    return _get()


def get_manager() -> pluggy.PluginManager:
    """The loaded plugin manager (plugins are loaded on first use, then cached)."""
    return _get().manager


def get_registry() -> Registry:
    """Everything the loaded plugins registered (cached; see :func:`reset`)."""
    return _get().registry


def get_records() -> list[PluginRecord]:
    """One record per plugin considered, in load order, failures and disabled ones included."""
    return _get().records


def reset() -> None:
    """Forget the loaded plugins; the next call loads them again (tests, environment changes)."""
    global _state
    _state = None


def register_commands(cli: Any, reserved: Iterable[str] = ()) -> None:
    """Let each plugin add CLI commands, one plugin at a time (a failure is one warning).

    A command may not replace a ``reserved`` (built-in) one nor another plugin's: first wins.
    """
    state = _get()
    reserved = set(reserved)
    for record in state.records:
        plugin = state.manager.get_plugin(record.name)
        if plugin is None:
            continue
        before = dict(cli.commands)
        try:
            _call_impls(state.manager, plugin, "ganforge_register_commands", cli=cli)
        except Exception as e:
            cli.commands.clear()
            cli.commands.update(before)
            message = f"plugin '{record.name}' failed to add its commands: {_one_line(e)}"
            if _strict():
                raise GanforgeError(f"{message} ({STRICT_ENV} is set)") from None
            record.error = record.error or _one_line(e)
            _warn(message, state.registry)
            continue
        for name, command in list(cli.commands.items()):
            if before.get(name) is command:
                continue
            owner = "ganforge" if name in reserved else state.registry.owners.get(f"command:{name}")
            if owner is not None:
                _warn(f"plugin '{record.name}' adds command '{name}', already provided by '{owner}'; "
                      f"keeping '{owner}'s", state.registry)
                if name in before:
                    cli.commands[name] = before[name]
                else:
                    del cli.commands[name]
                continue
            state.registry.owners[f"command:{name}"] = record.name
            record.registered.append(f"command:{name}")


def modality(name: str) -> Modality:
    """The registered modality ``name``; a one-line error listing the known ones otherwise."""
    registry = get_registry()
    if name not in registry.modalities:
        known = ", ".join(sorted(registry.modalities)) or "none"
        raise GanforgeError(f"unknown modality {name!r} (registered: {known}); see `ganforge plugins`")
    return registry.modalities[name]


def family(modality_name: str, name: str | None = None) -> ModelFamily:
    """The registered model family ``name`` of modality ``modality_name`` (default: the
    modality's default family); a one-line error listing the known ones otherwise. The one
    lookup the CLI, the training run and the exporter share."""
    registry = get_registry()
    name = name or modality(modality_name).default_family or modality_name
    found = registry.families.get(family_key(modality_name, name))
    if found is None:
        known = sorted(f.name for f in registry.families.values() if f.modality == modality_name)
        raise GanforgeError(f"unknown model family {name!r} for modality {modality_name!r} (registered: "
                            f"{', '.join(known) or 'none'}; is the plugin that provides it installed?)")
    return found


def codec_for(name: str) -> Codec:
    """The codec of modality ``name`` (a :class:`~ganforge.core.codec.Codec`), made once per
    plugin load: the runtime, the CLI and the hosts share it."""
    state = _get()
    codec = state.codecs.get(name)
    if codec is not None:
        return codec
    mod = modality(name)
    owner = state.registry.owners.get(f"modality:{name}", "?")
    try:
        codec = as_codec(resolve(mod.codec), repr(mod.codec))
    except Exception as e:
        raise GanforgeError(f"codec {mod.codec!r} of modality {name!r} (plugin '{owner}') failed to "
                            f"load: {_one_line(e)}") from None
    state.codecs[name] = codec
    return codec
