--- The Windows build under wine: run by spec/windows/run.sh with the
-- cross-built lua.exe, which finds pss.dll beside itself. Wine's kernel32
-- has no Pss* function, so this checks what must hold wherever the API is
-- missing (Windows 7 and 8.0 too): the module loads, reports the Windows
-- constants and layouts, fails every capture with a clear message, raises
-- on programming errors, and lists processes through ToolHelp, compared
-- with wmic's independent list. Prints TAP, numbered after arg[1] tests,
-- and a last line "N passed, N failed".
local first = tonumber(arg[1]) or 0
local passed, failed = 0, 0
local tests = {}

local function test (name, fn) tests[#tests + 1] = { name = name, fn = fn } end

local function check (cond, ...)
  if not cond then error(select("#", ...) > 0 and string.format(...) or "check failed", 2) end
end

--- Runs fn, which must raise; returns the message.
local function raises (fn, ...)
  local ok, err = pcall(fn, ...)
  check(not ok, "did not raise")
  return tostring(err)
end

local pss = require "pss"
local core = require "pss.core"
local windows = require "windows_values"
local ROOT = os.getenv("PSS_ROOT") or "."

--- Runs a command line under cmd.exe; returns its status and the text it
-- wrote to stdout and stderr (through files: wine holds pipes open).
local temp, runs = assert(os.getenv("TEMP"), "no TEMP folder"), 0

local function run (command)
  runs = runs + 1
  local out = ("%s\\pss-smoke-%d.out"):format(temp, runs)
  local err = ("%s\\pss-smoke-%d.err"):format(temp, runs)
  -- cmd /c drops the first and the last quote of a line that starts with
  -- one: the outer pair is for it
  local ok, _, status = os.execute(('"%s > "%s" 2> "%s""'):format(command, out, err))
  local function slurp (path)
    local f = io.open(path, "rb")
    local text = f and f:read("a") or ""
    if f then f:close() end
    os.remove(path)
    return (text:gsub("\r\n", "\n"))
  end
  return ok and 0 or status, slurp(out), slurp(err)
end

-- {=== the module

test("require 'pss' loads pss.core from pss.dll on platform 'windows'", function ()
  check(pss.platform == "windows", "platform %s", tostring(pss.platform))
  local path = package.searchpath("pss", package.cpath)
  check(path and path:lower():match("pss%.dll$"), "pss.dll not on package.cpath: %s",
    package.cpath)
  check(package.loaded["pss.core"] ~= nil, "pss.core not loaded")
  check(type(pss.capture) == "function" and pss.self ~= nil, "no capture or self")
end)

test("every constant has its Windows value", function ()
  local n = 0
  for name, value in pairs(windows.constants) do
    check(math.type(pss[name]) == "integer", "%s missing", name)
    check(pss[name] == value, "%s = 0x%x, Windows has 0x%x", name, pss[name], value)
    n = n + 1
  end
  check(n > 90, "only %d constants checked", n)
end)

test("no constant of the API's families has a value not checked", function ()
  local unchecked = windows.unchecked(pss)
  check(#unchecked == 0, "not documented values: %s", table.concat(unchecked, ", "))
end)

test("struct sizes match pss-api.md's x64 layout", function ()
  for name, size in pairs(windows.sizes) do
    check(pss.sizes[name] == size, "sizeof(%s) = %s, pss-api.md says %d", name,
      tostring(pss.sizes[name]), size)
  end
  for name in pairs(pss.sizes) do check(windows.sizes[name], "unchecked size %s", name) end
end)

-- {=== capture without the API

local UNAVAILABLE = "PssCaptureSnapshot is not available on this system"

test("pss.capture(pss.self) returns nil, the not-available message, ERROR_NOT_SUPPORTED",
  function ()
    local snap, msg, code = pss.capture(pss.self)
    check(snap == nil, "captured")
    check(msg == UNAVAILABLE, "message %q", tostring(msg))
    check(code == pss.ERROR_NOT_SUPPORTED, "code %s", tostring(code))
  end)

test("every option and a pid fail the same way", function ()
  for name in pairs(pss.options) do
    local snap, msg, code = pss.capture(pss.self, { name })
    check(snap == nil and msg == UNAVAILABLE and code == 50, "%s: %s", name, tostring(msg))
  end
  local snap, msg = pss.capture(4, { "threads" })
  check(snap == nil and msg == UNAVAILABLE, "pid 4: %s", tostring(msg))
  snap, msg = core.capture(pss.self, pss.CAPTURE_VA_CLONE | pss.CAPTURE_THREADS)
  check(snap == nil and msg == UNAVAILABLE, "core.capture: %s", tostring(msg))
end)

test("programming errors still raise before the system is asked", function ()
  check(raises(pss.capture, "self"):match("pid or pss.self expected"), "string target")
  check(raises(pss.capture, pss.self, { "no_such_option" }):match("unknown capture option"),
    "unknown option")
  check(raises(pss.capture, 0):match("pid must be"), "pid 0")
  check(raises(core.capture, pss.self, -1):match("flags out of range"), "flags -1")
  check(raises(pss.sleep, -1):match("seconds must be"), "sleep -1")
end)

-- {=== objects: none can be made here, so the methods meet wrong objects

test("snapshot and marker methods raise cleanly on objects that are not theirs", function ()
  local registry = debug.getregistry()
  for _, mt_name in ipairs { "pss.snapshot", "pss.marker" } do
    local mt = registry[mt_name]
    check(type(mt) == "table", "no metatable %s", mt_name)
    local methods = {}
    for k, f in pairs(mt.__index) do methods[k] = f end
    methods.__gc, methods.__close, methods.__tostring = mt.__gc, mt.__close, mt.__tostring
    for name, f in pairs(methods) do
      for _, wrong in ipairs { io.stdout, {}, "x", 1 } do
        local err = raises(f, wrong)
        check(err:find(mt_name .. " expected", 1, true), "%s.%s: %s", mt_name, name, err)
      end
    end
    check(pss.type(io.stdout) == nil, "pss.type(file)")
  end
end)

-- {=== processes through ToolHelp, against wmic

--- wmic's list (WMI's Win32_Process, another path through the system):
-- pid -> { name, ppid }. wmic writes UTF-16LE.
local function wmic ()
  local status, out = run("wmic process get name,parentprocessid,processid")
  check(status == 0, "wmic failed: %s", tostring(status))
  local text = out:gsub("^\255\254", ""):gsub("(.)%z", "%1"):gsub("\r", "")
  local list = {}
  for line in text:gmatch("[^\n]+") do
    local name, ppid, pid = line:match("^(.-)%s+(%d+)%s+(%d+)%s*$")
    if name then list[tonumber(pid)] = { name = name, ppid = tonumber(ppid) } end
  end
  return list
end

local function by_pid ()
  local t = {}
  for p in pss.processes() do t[p.pid] = p end
  return t
end

test("pss.processes() lists what wmic lists, in pid order, with this lua.exe", function ()
  local before = by_pid()
  local w = wmic()
  local after = by_pid()
  local stable = 0
  for pid, p in pairs(before) do
    local q = after[pid]
    if q and q.name == p.name and pid ~= 0 then
      stable = stable + 1
      check(w[pid], "pid %d (%s) is not in wmic's list", pid, p.name)
      check(w[pid].name:lower() == p.name:lower(), "pid %d: %s, wmic says %s", pid, p.name,
        w[pid].name)
      check(w[pid].ppid == p.ppid, "pid %d: ppid %d, wmic says %d", pid, p.ppid, w[pid].ppid)
      check(math.type(p.threads) == "integer" and p.threads >= 1, "pid %d: threads", pid)
    end
  end
  check(stable >= 3, "only %d processes seen twice", stable)
  -- wmic ran under a cmd.exe that this lua.exe started
  local me
  for _, e in pairs(w) do
    if e.name:lower() == "wmic.exe" and w[e.ppid] then me = w[e.ppid].ppid end
  end
  check(me and before[me] and before[me].name:lower() == "lua.exe", "this lua.exe not found")
  check(math.type(before[me].rss) == "integer" and before[me].rss > 0, "own rss")
  local last = -1
  for p in pss.processes() do
    check(p.pid > last, "not in pid order at %d", p.pid)
    last = p.pid
  end
end)

-- {=== the pss command

local function pss_command (args)
  return run(('"%s" "%s\\bin\\pss" %s'):format(arg[-1], ROOT, args))
end

--- pss.cli.main in this process, for its exit status: msvcrt's system()
-- leaves errno set, so os.execute reports ENOENT for any nonzero status.
local function pss_main (args)
  local out, err = {}, {}
  local function sink (t) return { write = function (self, ...)
    for _, s in ipairs { ... } do t[#t + 1] = s end
    return self
  end } end
  local stdout, stderr = io.stdout, io.stderr
  -- luacheck: push ignore 122 (the command writes to io.stdout and io.stderr)
  io.stdout, io.stderr = sink(out), sink(err)
  local ok, status = pcall(require("pss.cli").main, args)
  io.stdout, io.stderr = stdout, stderr
  -- luacheck: pop
  check(ok, "pss.cli.main raised: %s", tostring(status))
  return status, table.concat(out), table.concat(err)
end

test("bin/pss ps lists this lua.exe", function ()
  local status, out, err = pss_command("ps")
  check(status == 0, "ps: status %s: %s", tostring(status), err)
  check(out:match("^%s*PID%s+PPID%s+USER%s+S%s+THR%s+RSS%s+NAME\n"), "ps header: %s", out)
  check(out:match("\n%s*%d+%s+%d+%s+.-lua%.exe\n"), "no lua.exe row in:\n%s", out)
end)

test("pss show fails with status 1 and the reason; a bad pid is a usage error", function ()
  local status, out, err = pss_main { "show", "4" }
  local _
  check(status == 1, "show: status %s, stderr %q", tostring(status), err)
  check(out == "", "show wrote %q", out)
  check(err == "pss: " .. UNAVAILABLE .. "\n", "show: %q", err)
  status, _, err = pss_main { "core", "4", "-o", "dump" }
  check(status == 1 and err == "pss: " .. UNAVAILABLE .. "\n", "core: %s %q", status, err)
  status, _, err = pss_main { "show", "nope" }
  check(status == 2 and err:match("is not a process id"), "bad pid: %s %q", tostring(status), err)
end)

-- {=== run

print(("1..%d"):format(#tests))
for i, t in ipairs(tests) do
  local ok, err = pcall(t.fn)
  if ok then
    passed = passed + 1
    print(("ok %d - %s"):format(first + i, t.name))
  else
    failed = failed + 1
    print(("not ok %d - %s"):format(first + i, t.name))
    print("# " .. tostring(err):gsub("\n", "\n# "))
  end
end
print(("# %d passed, %d failed"):format(passed, failed))
os.exit(failed == 0)
