/* Wine 8 (Debian 12) lacks bcryptprimitives.dll, whose ProcessPrng Rust's
 * standard library calls on Windows for random bytes (HashMap keys). This
 * stand-in answers from the system's RtlGenRandom (advapi32's
 * SystemFunction036), so the Windows test binaries run under Wine in CI.
 * It is for the test runner only; real Windows has the real DLL. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, n)) {
            return FALSE;
        }
        data += n;
        len -= n;
    }
    return TRUE;
}
