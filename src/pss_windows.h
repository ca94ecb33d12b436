/*
** pss_windows.h -- libpss's Windows extensions (src/windows/pss_win.c).
** Included by pss.h, after the Windows declarations; include pss.h.
*/
#ifndef PSS_WINDOWS_H
#define PSS_WINDOWS_H

/* {======================================================================
** Windows extension
** ======================================================================= */
/* TRUE when kernel32 exports all ten functions (Windows 8.1 and later).
** Otherwise (Windows 7 and 8.0, wine) every Pss* function returns
** ERROR_NOT_SUPPORTED: the API is used whole or not at all. */
BOOL PssWindowsIsAvailable(void);

/* Why the last failing call of this thread failed, in words, when the code
** alone does not say (NULL otherwise); every libpss function resets it.
** The string is static. */
char const *PssWindowsLastErrorDetail(void);

/*
** Reads the VA clone's memory, as PssLinuxReadSnapshotMemory does: the
** bytes of [Address, Address+Length) as they were at the capture instant.
** ERROR_PARTIAL_COPY when the range runs into memory the clone does not
** hold, with *BytesRead the readable prefix (possibly 0); ERROR_NOT_FOUND
** without a VA clone. The clone's handle stays the snapshot's.
*/
DWORD PssWindowsReadSnapshotMemory(HPSS SnapshotHandle, UINT64 Address, void *Buffer,
                                   SIZE_T Length, SIZE_T *BytesRead);

/*
** Writes a full-memory minidump of the snapshot to Path (UTF-8; created or
** truncated) with MiniDumpWriteDump, answering IsProcessSnapshotCallback
** (pss-api.md §8). ERROR_NOT_FOUND without a VA clone or threads; on any
** failure the file is removed. DbgHelp calls are serialized.
*/
DWORD PssWindowsWriteDump(HPSS SnapshotHandle, char const *Path);
/* }====================================================================== */

#endif /* PSS_WINDOWS_H */
