-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- The pss command never harms whoever runs it: names of a process's
-- choosing cannot reach the terminal raw, a write that fails is exit
-- status 1, a file is replaced only once complete, arguments are checked,
-- hints do not mislead, a long command line is shown whole or marked cut.
-- Run for real (bin/pss) against processes the spec starts.
local cjson = require "cjson"
local lfs = require "lfs"
local support = require "support"
local pss = require "pss"
local printable = require("pss.report").printable

local function q (s) return "'" .. s:gsub("'", "'\\''") .. "'" end

--- In front of the programs a test starts besides pss: not with the
-- sanitizer runtime the specs may preload.
local PLAIN = "env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS"

local X86_64 do
  local uname = io.popen("uname -m")
  X86_64 = uname:read("l") == "x86_64"
  uname:close()
end

--- Runs bin/pss with a shell command line of arguments: `before` goes in
-- front (setpriv, ulimit, ...), `after` after it (a redirection of
-- stdout). Returns exit status, stdout (unless redirected), stderr.
local run = support.run_pss

--- A directory of its own for one test, removed with everything in it
-- when the test closes it.
local function scratch ()
  local base = os.tmpname()     -- a file only this spec has: the directory beside it
  local dir = base .. ".d"
  assert(lfs.mkdir(dir))
  return setmetatable({ path = dir }, { __close = function ()
    os.execute("rm -rf " .. q(dir))
    os.remove(base)
  end })
end

local function write (path, text)
  local f = assert(io.open(path, "wb"))
  assert(f:write(text))
  assert(f:close())
end

--- The names in a directory, sorted.
local function listing (dir)
  local names = {}
  for name in lfs.dir(dir) do
    if name ~= "." and name ~= ".." then names[#names + 1] = name end
  end
  table.sort(names)
  return names
end

--- Waits (at most ~10 s) until f() is true; its last value.
local function wait_for (f)
  for _ = 1, 1000 do
    local v = f()
    if v then return v end
    os.execute("sleep 0.01")
  end
  return f()
end

--- The inverse of printable: every "\xNN" is the byte NN.
local function unescape (s)
  return (s:gsub("\\x(%x%x)", function (h) return string.char(tonumber(h, 16)) end))
end

--- What a terminal must never get: C0 controls but the newline, DEL, C1
-- controls (as UTF-8), bytes that are not UTF-8.
local function assert_safe (text, what)
  local bad = text:find("[%z\1-\9\11-\31\127]") or text:find("\194[\128-\159]")
  assert.is_nil(bad, ("%s: a control byte at %s in:\n%s"):format(what, tostring(bad), printable(text)))
  assert.is_not_nil(utf8.len(text), what .. ": not UTF-8")
end

--- A name that sets the terminal's title, starts a line of its own and
-- clears the screen: 13 bytes, so it is the whole comm (15 at most).
local NAME = "\27]0;pwn\7\n\27[2J"
--- A file name with a colour escape, a carriage return, a newline, a
-- byte that is not UTF-8 and a backslash that reads as an escape.
local FILE = "fd-\27[31m\n\\x41-\255\r"

--- Starts a copy of sleep named NAME in dir, with FILE open as fd 3:
-- its comm, argv[0], image path and one fd are names of its choosing.
local function start_named (dir)
  local exe, file = dir .. "/" .. NAME, dir .. "/" .. FILE
  write(exe, assert(support.read("/bin/sleep")))
  assert(os.execute("chmod 755 " .. q(exe)))
  write(file, "odd\n")
  local pipe = assert(io.popen(("exec %s sh -c 'exec 3<\"$1\"; echo $$; exec \"$0\" 300' %s %s")
    :format(PLAIN, q(exe), q(file))))
  local pid = tonumber(pipe:read("l"))
  local proc = setmetatable({ pid = pid, exe = exe, file = file, pipe = pipe }, {
    __close = function (self)
      if self.pid then os.execute(("kill %d 2>/dev/null"):format(self.pid)) end
      self.pipe:close()
    end })
  assert(pid, "the named process did not start")
  assert(wait_for(function ()
    return support.read(("/proc/%d/comm"):format(pid)) == NAME .. "\n"
  end), "its comm was not set")
  return proc
end

describe("pss prints names of a process's choosing", function ()
  it("as visible escapes in ps, threads, handles, maps, show and map, never raw", function ()
    local dir <close> = scratch()
    local p <close> = start_named(dir.path)
    local name = printable(NAME)
    assert.equal("\\x1b]0;pwn\\x07\\x0a\\x1b[2J", name)

    local status, out = run("ps")
    assert.equal(0, status)
    assert_safe(out, "ps")
    local rows = 0
    for line in out:gmatch("[^\n]+") do
      if line:match("^%s*" .. p.pid .. "%s") then
        rows = rows + 1
        assert.equal(name, line:sub(-#name), line)
      end
    end
    assert.equal(1, rows)

    status, out = run("threads " .. p.pid)
    assert.equal(0, status)
    assert_safe(out, "threads")
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equal(2, #lines, out)          -- the header and the one thread: no forged row
    assert.matches("^%s*" .. p.pid .. "  " .. name:gsub("%p", "%%%0") .. "  S ", lines[2])

    status, out = run("handles " .. p.pid)
    assert.equal(0, status)
    assert_safe(out, "handles")
    local fds = #support.numbers(("/proc/%d/fd"):format(p.pid))
    local n, fd3 = 0, nil
    for line in out:gmatch("[^\n]+") do
      n = n + 1
      fd3 = fd3 or line:match("^%s*3  File%s+(.*)$")
    end
    assert.equal(1 + fds, n, out)
    assert.equal(p.file, unescape(fd3))   -- unambiguous: the escapes read back to the bytes
    assert.equal("\\x1b[31m\\x0a\\x5cx41-\\xff\\x0d", fd3:match("fd%-(.*)$"))

    status, out = run("maps " .. p.pid)
    assert.equal(0, status)
    assert_safe(out, "maps")
    local image = 0
    for line in out:gmatch("[^\n]+") do
      local path = line:match("%s(/%S*)$")
      if path and unescape(path) == p.exe then image = image + 1 end
    end
    assert.is_true(image > 0, out)

    status, out = run("show " .. p.pid)
    assert.equal(0, status)
    assert_safe(out, "show")
    assert.matches("\n  name +" .. name:gsub("%p", "%%%0") .. "\n", out)
    assert.matches("\n  command +" .. printable(p.exe):gsub("%p", "%%%0") .. " 300\n", out)
    assert.truthy(out:find(printable(p.file), 1, true), out)

    local svg = dir.path .. "/map.svg"
    status = run(("map %d -o %s"):format(p.pid, q(svg)))
    assert.equal(0, status)
    assert_safe(support.read(svg), "map")
    assert.is_true(os.execute(("xmllint --noout %s"):format(q(svg))))
  end)

  it("as escapes in a socket's description", function ()
    if not lfs.attributes("/usr/bin/python3") then
      pending("needs python3 to bind a unix socket")
      return
    end
    local dir <close> = scratch()
    local path = dir.path .. "/so\27]0;x\7\27[2Jck"   -- no newline: /proc/net/unix would cut it
    local script = "import os, socket, sys, time\n"
      .. "s = socket.socket(socket.AF_UNIX); s.bind(os.fsencode(sys.argv[1])); s.listen()\n"
      .. "print(os.getpid(), flush=True); time.sleep(300)\n"
    local pipe = assert(io.popen(("exec %s /usr/bin/python3 -c %s %s"):format(PLAIN, q(script), q(path))))
    local pid = tonumber(pipe:read("l"))
    local ok, err = pcall(function ()
      assert.is_not_nil(pid, "python3 did not bind the socket")
      for _, cmd in ipairs { "handles", "show" } do
        local status, out = run(cmd .. " " .. pid)
        assert.equal(0, status)
        assert_safe(out, cmd)
        assert.truthy(out:find("unix stream " .. printable(path), 1, true), out)
      end
    end)
    if pid then os.execute(("kill %d 2>/dev/null"):format(pid)) end
    pipe:close()
    assert(ok, err)
  end)

  it("as escapes in a diff's opened and closed handles", function ()
    local dir <close> = scratch()
    local file, pidfile = dir.path .. "/" .. FILE, dir.path .. "/pid"
    write(file, "odd\n")
    -- a shell that opens the file as fd 9 when told to (a line on its
    -- stdin) and ends at the end of its stdin; an fd 9 it inherited is
    -- closed first
    local script = "exec 9<&-; echo $$ > \"$0\"; read x; exec 9<\"$1\"; read y"
    local sh = assert(io.popen(("exec %s sh -c %s %s %s"):format(PLAIN, q(script), q(pidfile), q(file)), "w"))
    local pid = wait_for(function () return tonumber(support.read(pidfile)) end)
    local ok, err = pcall(function ()
      assert.is_not_nil(pid)
      local before <close> = assert(pss.capture(pid, { "handles" }))
      sh:write("\n")
      sh:flush()
      assert.is_true(wait_for(function ()
        return support.readlink(("/proc/%d/fd/9"):format(pid)) == file
      end))
      local after <close> = assert(pss.capture(pid, { "handles" }))
      local text = tostring(pss.diff(before, after))
      assert_safe(text, "diff")
      assert.matches("\n  opened  9  File  " .. printable(file):gsub("%p", "%%%0") .. "\n", text .. "\n")
      text = tostring(pss.diff(after, before))
      assert_safe(text, "diff")
      assert.matches("\n  closed  9  File  " .. printable(file):gsub("%p", "%%%0") .. "\n", text .. "\n")
    end)
    sh:close()
    assert(ok, err)
  end)

  it("with one escaping that reads back to the exact bytes", function ()
    -- bytes a name may hold, weighted toward the hard ones
    local pieces = { "\\", "x", "\\x", "41", "\27", "\n", "\r", "\0", "\127", "\255", "\194\155",
      "\194\160", "é", "€", "𝄞", "\xed\xa0\x80", "\xef\xbf\xbe", "\xf4\x90\x80\x80", "\xc3", "a", " " }
    local rng = 20240601
    local function random (n)
      rng = (rng * 1103515245 + 12345) % 2147483648
      return rng % n + 1
    end
    for _ = 1, 2000 do
      local parts = {}
      for i = 1, random(8) do parts[i] = pieces[random(#pieces)] end
      local s = table.concat(parts)
      local p = printable(s)
      assert_safe(p, ("%q"):format(s))
      assert.equal(s, unescape(p))
    end
    assert.equal("C:\\Windows", printable("C:\\Windows"))  -- a lone backslash stays
    assert.equal("\\x5cx41", printable("\\x41"))
  end)
end)

describe("pss checks every write", function ()
  it("exits 1 with the reason when standard output is full", function ()
    local t <close> = support.start("--threads 1")
    for _, args in ipairs { "ps", "ps --json", "ps --json-lines", "show " .. t.pid,
        "threads " .. t.pid, "threads --json-lines " .. t.pid, "diff -i 0 " .. t.pid, "--help",
        "map --help", ("map %d -o -"):format(t.pid), "--version", "help", "help map",
        "completion bash", "completion zsh" } do
      local status, _, err = run(args, nil, ">/dev/full")
      assert.equal(1, status, args)
      assert.equal("pss: write error: No space left on device\n", err, args)
    end
  end)

  it("exits 1 with the reason when -o is a full device, and leaves the device as it was", function ()
    local dir <close> = scratch()
    local t <close> = support.start("--threads 1")
    -- /dev/full through a link of this test's own: whatever pss did wrong,
    -- it could only replace the link
    local full = dir.path .. "/full"
    assert(lfs.link("/dev/full", full, true))
    local status, out, err = run(("map %d -o %s"):format(t.pid, q(full)))
    assert.equal(1, status)
    assert.equal("", out)
    assert.equal(("pss: write error: %s: No space left on device\n"):format(full), err)
    assert.equal("/dev/full", lfs.symlinkattributes(full, "target"))
    assert.same({ "full" }, listing(dir.path))
    status, out, err = run(("core %d -o %s"):format(t.pid, q(full)))
    assert.equal(1, status)
    assert.equal("", out)
    assert.truthy(err:find("the disk is full", 1, true), err)
    assert.truthy(err:find("no space left", 1, true), err)
    assert.equal("/dev/full", lfs.symlinkattributes(full, "target"))
    assert.same({ "full" }, listing(dir.path))
  end)

  it("leaves the file it would replace untouched when a write fails", function ()
    local dir <close> = scratch()
    local t <close> = support.start("--threads 1")
    -- at most 4 KiB a file, and the signal ignored: the write fails (EFBIG)
    local limit = "trap '' XFSZ; ulimit -f 4;"
    for _, cmd in ipairs { "map", "core" } do
      local file = dir.path .. "/old." .. cmd
      write(file, "old contents\n")
      local status, _, err = run(("%s %d -o %s"):format(cmd, t.pid, q(file)), limit)
      assert.equal(1, status, cmd)
      -- the map's own write says strerror's words; the core's, the library's
      assert.truthy(err:find("File too large", 1, true) or err:find("file is too large", 1, true),
        err)
      assert.equal("old contents\n", support.read(file), cmd)
      local new = dir.path .. "/new." .. cmd
      status = run(("%s %d -o %s"):format(cmd, t.pid, q(new)), limit)
      assert.equal(1, status, cmd)
      assert.is_nil(lfs.attributes(new), cmd)
    end
    -- nothing left behind: no temporary file
    assert.same({ "old.core", "old.map" }, listing(dir.path))
  end)
end)

describe("pss writes a file", function ()
  it("by replacing it only once complete, never through a link planted at the name", function ()
    local dir <close> = scratch()
    local t <close> = support.start("--threads 1")
    local svg, victim = dir.path .. "/map.svg", dir.path .. "/victim"
    write(svg, "old\n")
    local status, out = run(("map %d -o %s"):format(t.pid, q(svg)))
    assert.equal(0, status)
    assert.equal("", out)
    assert.matches("^<%?xml", support.read(svg))
    assert.same({ "map.svg" }, listing(dir.path))
    -- a symbolic link at the name is replaced, the file it names untouched
    write(victim, "precious\n")
    local link = dir.path .. "/link.svg"
    assert(lfs.link(victim, link, true))
    status = run(("map %d -o %s"):format(t.pid, q(link)))
    assert.equal(0, status)
    assert.equal("precious\n", support.read(victim))
    assert.equal("file", lfs.symlinkattributes(link, "mode"))
    assert.matches("^<%?xml", support.read(link))
    assert.same({ "link.svg", "map.svg", "victim" }, listing(dir.path))
  end)

  it("to standard output with -o -", function ()
    local t <close> = support.start("--threads 1")
    local status, out, err = run(("map %d -o -"):format(t.pid))
    assert.equal(0, status)
    assert.equal("", err)
    assert.matches("^<%?xml.*</svg>\n?$", out)
    status, out, err = run(("core %d -o -"):format(t.pid))
    assert.equal(0, status, err)
    assert.equal("\127ELF", out:sub(1, 4))
    assert.matches("^standard output: core of pid " .. t.pid, err)
  end)

  it("through a FIFO or a device, which stays what it was", function ()
    local dir <close> = scratch()
    local t <close> = support.start("--threads 1")
    local fifo = dir.path .. "/fifo"
    assert(os.execute("mkfifo " .. q(fifo)))
    local reader = assert(io.popen(("%s timeout 20 cat %s"):format(PLAIN, q(fifo))))
    local status, _, err = run(("map %d -o %s"):format(t.pid, q(fifo)))
    local svg = reader:read("a")
    reader:close()
    assert.equal(0, status, err)
    assert.matches("^<%?xml.*</svg>\n?$", svg)
    assert.equal("named pipe", lfs.attributes(fifo, "mode"))
    local null = dir.path .. "/null"
    assert(lfs.link("/dev/null", null, true))
    status, _, err = run(("map %d -o %s"):format(t.pid, q(null)))
    assert.equal(0, status, err)
    assert.equal("/dev/null", lfs.symlinkattributes(null, "target"))
    assert.same({ "fifo", "null" }, listing(dir.path))
  end)
end)

describe("pss checks its arguments", function ()
  it("takes a pid as plain decimal digits, 1..2147483647, else gives status 2", function ()
    for _, pid in ipairs { "2147483648", "99999999999999999999", "0", "-1", "0x10", "' 12'", "'12 '",
        "1e3", "+5", "012", "1.0", "''", "١٢" } do
      local status, out, err = run("show -- " .. pid)
      assert.equal(2, status, pid)
      assert.equal("", out, pid)
      assert.truthy(err:find("^Usage: pss"), pid)
      assert.truthy(err:find("\npss: '.*' is not a process id %(decimal digits, 1 to 2147483647, "
        .. "no leading zero%)[^\n]*\n$"), pid)
    end
    local status, out, err = run("show 2147483647")
    assert.equal(1, status)
    assert.equal("", out)
    assert.equal("pss: pid 2147483647: no such process\n", err)
  end)

  it("takes an interval as plain decimal seconds, else gives status 2", function ()
    for _, s in ipairs { "nan", "inf", "-inf", "-1", "1e3", "0x10", "' 1'", "1e400", "2000001", "''" } do
      local status, out, err = run(("diff %d --interval=%s"):format(support.missing_pid(), s))
      assert.equal(2, status, s)
      assert.equal("", out, s)
      assert.truthy(err:find("\npss: '.*' is not a number of seconds %(a decimal number from 0 to "
        .. "2000000%)\n$"), s)
    end
  end)

  it("shows arguments that are not text as escapes in its messages", function ()
    local status, _, err = run("show $(printf '\\033]0;x\\007')")
    assert.equal(2, status)
    assert_safe(err, "usage")
    assert.matches("'\\x1b]0;x\\x07' is not a process id", err, 1, true)
  end)
end)

describe("pss's hints", function ()
  --- A copy of sleep nobody but root may read, run as nobody: a process
  -- of nobody's that is not dumpable. Its __close kills it.
  local function start_undumpable (dir)
    local exe = dir .. "/sleep"
    write(exe, assert(support.read("/bin/sleep")))
    assert(os.execute(("chmod 711 %s %s"):format(q(dir), q(exe))))
    local pipe = assert(io.popen(("exec %s setpriv --reuid=nobody --regid=nogroup --clear-groups "
      .. "sh -c 'echo $$; exec \"$0\" 300' %s"):format(PLAIN, q(exe))))
    local pid = tonumber(pipe:read("l"))
    local proc = setmetatable({ pid = pid }, { __close = function ()
      if pid then os.execute(("kill %d 2>/dev/null"):format(pid)) end
      pipe:close()
    end })
    assert(pid and wait_for(function ()
      return support.readlink(("/proc/%d/exe"):format(pid)) == exe
    end), "the process did not start")
    return proc
  end

  it("never tell the process's own user, nor root, to run as them", function ()
    if not support.is_root then
      pending("needs root: the spec runs a target and pss as nobody via setpriv")
      return
    end
    local dir <close> = scratch()
    local p <close> = start_undumpable(dir.path)
    -- nobody, the process's user: refused (not dumpable)
    local status, _, err = run("threads " .. p.pid,
      "setpriv --reuid=nobody --regid=nogroup --clear-groups")
    assert.equal(1, status)
    assert.matches("^pss: PssCaptureSnapshot: access denied %(pid " .. p.pid .. "%)", err)
    assert.is_nil(err:find("process's user", 1, true), err)
    if err:find("%(pid %d+%): ") then
      assert.is_nil(err:find("run pss as", 1, true), err)   -- the library's detail, no hint
    else
      assert.matches("%(run pss as root%)\n$", err)
    end
    -- root without CAP_SYS_PTRACE: refused too, and told nothing about root
    status, _, err = run("threads " .. p.pid, "setpriv --inh-caps=-sys_ptrace --bounding-set=-sys_ptrace")
    assert.equal(1, status)
    assert.matches("^pss: PssCaptureSnapshot: access denied %(pid " .. p.pid .. "%)", err)
    assert.is_nil(err:find("run pss as", 1, true), err)
  end)

  it("name a tracer that holds the process, hinting only without the library's detail", function ()
    if not lfs.attributes("/usr/bin/strace") then
      pending("needs strace")
      return
    end
    local t <close> = support.start("--threads 1")
    local tracer = assert(io.popen(
      ("exec %s sh -c 'echo $$; exec timeout 30 strace -qq -p %d -o /dev/null' 2>&1"):format(PLAIN, t.pid)))
    local tracer_pid = tonumber(tracer:read("l"))
    local ok, err = pcall(function ()
      assert.is_true(wait_for(function ()
        return tonumber(support.status(t.pid).TracerPid) ~= 0
      end), "strace did not attach")
      local status, _, msg = run("threads " .. t.pid)
      assert.equal(1, status)
      assert.matches("^pss: PssCaptureSnapshot: another tracer holds the process %(pid " .. t.pid .. "%)", msg)
      if msg:find("%(pid %d+%): ") then
        assert.is_nil(msg:find("detach it first", 1, true), msg)
      else
        assert.matches("%(a debugger or tracer holds it; detach it first%)\n$", msg)
      end
    end)
    os.execute(("kill %d 2>/dev/null"):format(tracer_pid))
    tracer:close()
    assert(ok, err)
  end)
end)

describe("pss on a process that does not stop", function ()
  it("says it did not stop in time, and leaves it untraced", function ()
    if not X86_64 then
      pending("the spec calls vfork by its x86-64 number")
      return
    end
    -- perl calls vfork itself: the parent waits, in an uninterruptible
    -- sleep no ptrace stop can end, until the child (which sleeps) exits
    local script = [[$| = 1; print "$$\n"; if (syscall(58) == 0) { syswrite(STDOUT, syscall(186) . "\n");
      select(undef, undef, undef, 30); syscall(60, 0) } sleep 30]]
    local pipe = assert(io.popen(("exec %s perl -e %s"):format(PLAIN, q(script))))
    local parent, child = pipe:read("n", "n")
    local ok, err = pcall(function ()
      assert.is_not_nil(child)
      assert.is_true(support.wait_state(parent, "D"))
      local status, out, msg = run("threads " .. parent)
      assert.equal(1, status)
      assert.equal("", out)
      assert.matches("^pss: PssCaptureSnapshot: [^\n]*%(pid " .. parent .. "%)", msg)
      if msg:find("%(pid %d+%): ") then   -- the library says what did not stop: no hint
        assert.is_nil(msg:find("(the process did not stop in time", 1, true), msg)
      else
        assert.matches("%(the process did not stop in time; it was left running as it was%)\n$", msg)
      end
      assert.equal("0", support.status(parent).TracerPid)
      assert.equal("D", support.stat(("/proc/%d/stat"):format(parent))[3])
    end)
    for _, id in ipairs { parent or 0, child or 0 } do os.execute(("kill %d 2>/dev/null"):format(id)) end
    pipe:close()
    assert(ok, err)
  end)
end)

describe("pss shows a command line", function ()
  it("whole: all of 3,007 arguments, past 64 KiB", function ()
    local args = {}
    for i = 1, 3007 do args[i] = ("argument-%05d-%s"):format(i, ("x"):rep(24)) end
    -- sh ignores the arguments after its script and keeps them all; it
    -- says its pid and its sleep's, and waits
    local script = "sleep 300 & echo $$ $!; wait"
    local pipe = assert(io.popen(("exec %s sh -c %s sh %s"):format(PLAIN, q(script), table.concat(args, " "))))
    local pid, sleeper = pipe:read("n", "n")
    local ok, err = pcall(function ()
      assert.is_not_nil(sleeper)
      assert.equal(4 + 3007, #support.split0(support.read(("/proc/%d/cmdline"):format(pid))))
      local status, out = run("show " .. pid)
      assert.equal(0, status)
      local command = out:match("\n  command +([^\n]*)\n") or ""
      local expected = "sh -c " .. q(script) .. " sh " .. table.concat(args, " ")
      local at = 1   -- where they differ, for a message of a line, not of 100 KiB
      while at <= #expected and expected:byte(at) == command:byte(at) do at = at + 1 end
      assert.is_true(command == expected, ("%d bytes, not %d; they differ from byte %d: %q")
        :format(#command, #expected, at, command:sub(at, at + 40)))
      status, out = run("show --json " .. pid)
      assert.equal(0, status)
      local p = cjson.decode(out).process
      assert.equal(4 + 3007, #p.argv)
      assert.equal(args[3007], p.argv[#p.argv])
      assert.equal(false, p.command_line_truncated)
    end)
    for _, id in ipairs { sleeper or 0, pid or 0 } do os.execute(("kill %d 2>/dev/null"):format(id)) end
    pipe:close()
    assert(ok, err)
  end)

  it("marked cut, with \u{2026} at the end, past the 16 MiB the library reads", function ()
    if not X86_64 then
      pending("the spec calls prctl by its x86-64 number")
      return
    end
    -- exec takes a few MiB at most: perl points its command line at 17
    -- arguments of a million bytes each with PR_SET_MM (CAP_SYS_RESOURCE)
    local script = [[my $buf = ("a" x 1000000 . "\0") x 17; my $at = unpack("J", pack("p", $buf)); $| = 1;
      if (syscall(157, 35, 8, $at, 0, 0) != 0 || syscall(157, 35, 9, $at + length($buf), 0, 0) != 0) {
        print "0 $!\n"; exit 0 } print "$$\n"; sleep 300]]
    local pipe = assert(io.popen(("exec %s perl -e %s"):format(PLAIN, q(script))))
    local line = pipe:read("l") or ""
    local pid = tonumber(line)
    if pid == 0 or pid == nil then
      pipe:close()
      pending("PR_SET_MM is refused here (" .. line .. "): needs CAP_SYS_RESOURCE")
      return
    end
    local ok, err = pcall(function ()
      local status, out = run("show " .. pid)
      assert.equal(0, status)
      local command = out:match("\n  command +([^\n]*)\n") or ""
      assert.equal(" \u{2026}", command:sub(-4))
      status, out = run("show --json " .. pid)
      assert.equal(0, status)
      local p = cjson.decode(out).process
      assert.is_true(p.command_line_truncated)
      assert.equal(17, #p.argv)
      assert.equal(1000000, #p.argv[16])
      assert.is_true(#p.argv[17] < 1000000)
    end)
    os.execute(("kill %d 2>/dev/null"):format(pid))
    pipe:close()
    assert(ok, err)
  end)
end)

describe("pss diff", function ()
  it("ends its text with a newline", function ()
    local t <close> = support.start("--threads 1")
    local status, out = run("diff -i 0 " .. t.pid)
    assert.equal(0, status)
    assert.equal("\n", out:sub(-1))
    assert.are_not.equal("\n", out:sub(-2, -2))
    assert.matches("^pss%.diff %(pid " .. t.pid, out)
  end)
end)
