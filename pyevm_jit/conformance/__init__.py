"""Ethereum consensus tests: GeneralStateTests (`statetest`), BlockchainTests (`blocktest`), the
known deviations of stock py-evm, and where the fixtures are found (`fixtures`)."""
