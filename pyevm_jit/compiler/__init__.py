"""EVM bytecode to native code: LLVM set-up (`target`), block analysis (`analysis`), the LLVM IR
generator (`codegen`), the native runtime library (`rtlib`), object code (`compile`) and
in-process linking (`link`)."""
