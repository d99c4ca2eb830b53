"""ape's registration of pyevm-jit's provider (`pyevm_jit.integrations.ape`)."""

from ape import plugins


@plugins.register(plugins.ProviderPlugin)
def providers():  # type: ignore[no-untyped-def]
    from pyevm_jit.integrations.ape.provider import JitLocalProvider

    yield "ethereum", "local", JitLocalProvider
