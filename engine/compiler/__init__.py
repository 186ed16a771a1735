"""AI compilers: graph passes (one file each under ``passes/``), memory planning and tensor layouts.
``lab`` holds what only the compiler pages need (the kernel ledger, buffer text)."""
