--- pss.text: text for people, one set of rules for the whole Lua layer.
-- The report (pss.report), the diff report (pss.diff), the SVG map
-- (pss.svg), the JSON writer (pss.json) and the pss command
-- (pss.cli) write names, sizes and columns only through these
-- functions, and name system calls with one table. Pure Lua, no require.
local M = {}

--- Valid UTF-8 text for any byte string, safe to print on a terminal and
-- unambiguous: bytes that do not decode, and control characters (C0, DEL,
-- C1) and the non-characters U+FFFE/U+FFFF, become "\xNN", one per byte,
-- so no name can move the cursor, set a title, clear the screen or start a
-- line of its own; a backslash before an "x" becomes "\x5c", so every
-- "\x" in the result is an escape. Everything else is kept as it is.
function M.printable (s)
  s = tostring(s)
  if not s:find("[%c\128-\255]") and not s:find("\\x") then return s end
  local out, i, n = {}, 1, #s
  while i <= n do
    local c = s:byte(i)
    local len = c < 0x80 and 1 or (c >= 0xC2 and c <= 0xDF) and 2
      or (c >= 0xE0 and c <= 0xEF) and 3 or (c >= 0xF0 and c <= 0xF4) and 4 or 0
    local ch = len > 0 and s:sub(i, i + len - 1)
    local cp = ch and #ch == len and utf8.len(ch) == 1 and utf8.codepoint(ch)
    if cp and cp >= 0x20 and cp ~= 0x7F and not (cp >= 0x80 and cp < 0xA0)
        and cp ~= 0xFFFE and cp ~= 0xFFFF and not (cp == 0x5C and s:byte(i + 1) == 0x78) then
      out[#out + 1] = ch
      i = i + len
    else
      out[#out + 1] = ("\\x%02x"):format(c)
      i = i + 1
    end
  end
  return table.concat(out)
end

--- The width of a cell in characters (printable text is valid UTF-8;
-- anything else counts its bytes).
function M.width (s)
  return utf8.len(s) or #s
end

--- Rows of cells (strings: printable text) as lines of aligned columns,
-- two spaces apart: the columns in the set `right` are aligned to the
-- right, the others to the left (and the last cell of a row in one of
-- them is not padded). Returns the list of lines.
function M.columns (rows, right)
  right = right or {}
  local widths, lines = {}, {}
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do widths[i] = math.max(widths[i] or 0, M.width(cell)) end
  end
  for r, row in ipairs(rows) do
    local cells = {}
    for i, cell in ipairs(row) do
      local pad = (" "):rep(widths[i] - M.width(cell))
      if right[i] then cells[i] = pad .. cell
      elseif i < #row then cells[i] = cell .. pad
      else cells[i] = cell end
    end
    lines[r] = table.concat(cells, "  ")
  end
  return lines
end

--- Rows as a block of a report (pss.report, pss.diff): the lines of
-- columns(rows, right), indented by two spaces and without trailing
-- spaces, appended to the list out.
function M.block (out, rows, right)
  for _, line in ipairs(M.columns(rows, right)) do
    out[#out + 1] = ("  " .. line):gsub("%s+$", "")
  end
end

--- An integer as the unsigned value it holds, as a float (for sizes and
-- address differences of 2^63 and more); any other number as it is.
function M.unsigned (n)
  if math.type(n) == "integer" and n < 0 then return n + 18446744073709551616.0 end
  return n
end

local UNITS = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" }

--- Bytes in binary units: "512 B", "4.0 KiB", "1.5 MiB", ... (one decimal).
function M.size (bytes)
  local v = M.unsigned(bytes)
  if v < 1024 then return ("%d B"):format(math.tointeger(v) or math.floor(v)) end
  local unit = 0
  repeat v = v / 1024; unit = unit + 1 until v < 1024 or unit == #UNITS
  -- 1023.96 KiB would print as "1024.0 KiB": say "1.0 MiB" instead
  if ("%.1f"):format(v) == "1024.0" and unit < #UNITS then v = v / 1024; unit = unit + 1 end
  return ("%.1f %s"):format(v, UNITS[unit])
end

--- An address (any integer, as unsigned) as "0x..." in lowercase hex.
function M.address (a)
  return ("0x%x"):format(a)
end

--- The bytes of a string as lowercase hex, two digits a byte.
function M.hex (bytes)
  return (bytes:gsub(".", function (c) return ("%02x"):format(c:byte()) end))
end

--- {======================================================================
-- System call names
-- ======================================================================

--- Common x86-64 Linux system calls (arch/x86/entry/syscalls/syscall_64.tbl).
M.x86_64_syscalls = {
  [0] = "read", [1] = "write", [2] = "open", [3] = "close", [4] = "stat", [5] = "fstat",
  [7] = "poll", [8] = "lseek", [9] = "mmap", [10] = "mprotect", [11] = "munmap", [12] = "brk",
  [13] = "rt_sigaction", [14] = "rt_sigprocmask", [16] = "ioctl", [17] = "pread64",
  [18] = "pwrite64", [19] = "readv", [20] = "writev", [23] = "select", [24] = "sched_yield",
  [28] = "madvise", [34] = "pause", [35] = "nanosleep", [39] = "getpid", [40] = "sendfile",
  [41] = "socket", [42] = "connect", [43] = "accept", [44] = "sendto", [45] = "recvfrom",
  [46] = "sendmsg", [47] = "recvmsg", [56] = "clone", [57] = "fork", [59] = "execve",
  [60] = "exit", [61] = "wait4", [62] = "kill", [72] = "fcntl", [73] = "flock", [74] = "fsync",
  [75] = "fdatasync", [101] = "ptrace", [128] = "rt_sigtimedwait", [130] = "rt_sigsuspend",
  [186] = "gettid", [202] = "futex", [217] = "getdents64", [228] = "clock_gettime",
  [230] = "clock_nanosleep", [231] = "exit_group", [232] = "epoll_wait", [234] = "tgkill",
  [247] = "waitid", [257] = "openat", [270] = "pselect6", [271] = "ppoll",
  [281] = "epoll_pwait", [288] = "accept4", [299] = "recvmmsg", [307] = "sendmmsg",
  [426] = "io_uring_enter", [435] = "clone3", [441] = "epoll_pwait2",
}

local EM_X86_64 = 62

--- The ELF machine of a file, nil if it cannot be read.
local function elf_machine (path)
  local f = path and io.open(path, "rb")
  if not f then return nil end
  local head = f:read(20)
  f:close()
  if head and #head == 20 and head:sub(1, 4) == "\127ELF" then
    return string.unpack("<I2", head, 19)
  end
end

--- The system call names for the threads of a process (its record and
-- its thread entries): x86_64_syscalls for a Linux snapshot of a 64-bit
-- x86-64 process, known by its executable's ELF header (or, if that
-- cannot be read, by the Lua host's own); nil otherwise, as numbers of
-- another table would be named wrongly.
function M.syscall_names (process, threads)
  local linux = false
  for _, t in ipairs(threads) do linux = linux or t.syscall_state ~= nil end
  if not linux or process.wow64 then return nil end
  local machine = elf_machine(process.image_file_name) or elf_machine("/proc/self/exe")
  return machine == EM_X86_64 and M.x86_64_syscalls or nil
end

--- What a thread entry is doing in system-call terms: the name of the
-- call it is in from names ("ppoll"), "#N" where names has none, "-" in
-- none, or "running" / "unknown" as its syscall_state says.
function M.syscall (t, names)
  local n = t.syscall_number or t.last_syscall_number
  local state = t.syscall_state
  if state ~= nil and state ~= "syscall" then
    return state == "blocked" and "-" or state
  end
  if n == nil or n < 0 then return "-" end
  return names and names[n] or ("#%d"):format(n)
end
--- }======================================================================

--- The order keys are written in: integers as unsigned (addresses),
-- anything else by its string form. A sort comparator.
function M.before (x, y)
  if math.type(x) == "integer" and math.type(y) == "integer" then return math.ult(x, y) end
  return tostring(x) < tostring(y)
end

return M
