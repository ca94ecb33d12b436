-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- The pss command (bin/pss), run for real: output and exit status.
local cjson = require "cjson"
local support = require "support"

--- Runs bin/pss with a shell command line of arguments (and a prefix such
-- as a setpriv); returns exit status, stdout, stderr.
local function run (args, prefix)
  local err = os.tmpname()
  local cmd = ("%s bin/pss %s 2>%s"):format(prefix or "", args, err)
  local p = io.popen(cmd, "r")
  local out = p:read("a")
  local _, _, status = p:close()
  local f = io.open(err)
  local stderr = f:read("a")
  f:close()
  os.remove(err)
  return status, out, stderr
end

describe("the pss command", function ()
  it("lists processes, this one among them, as text and as JSON", function ()
    local status, out = run("ps")
    assert.equal(0, status)
    assert.matches("^%s*PID%s+PPID%s+USER", out)
    local me = support.my_pid()
    assert.truthy(out:find("\n%s*" .. me .. "%s+%d+%s+%S+%s+%a"), out)
    status, out = run("ps --json")
    assert.equal(0, status)
    local doc = cjson.decode(out)
    assert.equal("pss/1", doc.schema)
    local found
    for _, p in ipairs(doc.processes) do
      if p.pid == me then found = p end
    end
    assert.truthy(found)
    -- lua5.4, or valgrind's own name when the specs run under it
    assert.equal(support.read(("/proc/%d/comm"):format(me)):gsub("\n$", ""), found.name)
  end)

  it("lists a process's threads, handles and maps, as text and as JSON", function ()
    local t <close> = support.start("--threads 2")
    local status, out = run("threads " .. t.pid)
    assert.equal(0, status)
    for _, th in ipairs(t.threads) do
      assert.truthy(out:find("\n%s*" .. th.tid .. "%s+" .. th.name:gsub("%-", "%%-")), out)
    end
    status, out = run("threads --json " .. t.pid)
    assert.equal(0, status)
    local doc = cjson.decode(out)
    assert.equal("pss/1", doc.schema)
    assert.equal(t.pid, doc.pid)
    assert.equal(#t.threads, #doc.threads)
    status, out = run("handles " .. t.pid)
    assert.equal(0, status)
    for _, fd in ipairs(t.fds) do assert.truthy(out:find("\n%s*" .. fd.fd .. "%s"), fd.kind) end
    status, out = run("maps " .. t.pid)
    assert.equal(0, status)
    -- as pmap -x: a header, a line per region, a total (spec 25 checks the columns)
    assert.matches("^Address +Kbytes +RSS +Dirty +Mode +Mapping\n", out)
    assert.matches("\n%-+ +%-+ +%-+ +%-+\ntotal kB +%d+ +%d+ +%d+\n$", out)
    for _, m in ipairs(t.maps) do assert.truthy(out:find(("\n%016x "):format(m.start)), m.kind) end
    status, out = run("maps --json " .. t.pid)
    assert.equal(0, status)
    doc = cjson.decode(out)
    assert.equal("pss/1", doc.schema)
    assert.is_true(#doc.regions >= #t.maps)
    status, out = run("handles --json " .. t.pid)
    assert.equal(0, status)
    doc = cjson.decode(out)
    assert.equal("pss/1", doc.schema)
    assert.equal(#support.numbers("/proc/" .. t.pid .. "/fd"), #doc.handles)
  end)

  it("reports a process, a diff over an interval, itself, and a map", function ()
    local t <close> = support.start("--threads 1")
    local status, out = run("show " .. t.pid)
    assert.equal(0, status)
    assert.matches("Process " .. t.pid, out)
    status, out = run("show --json " .. t.pid)
    assert.equal(0, status)
    assert.equal(t.pid, cjson.decode(out).process.pid)
    assert.equal("pss/1", cjson.decode(out).schema)
    status, out = run("diff -i 0 " .. t.pid)
    assert.equal(0, status)
    assert.matches("^pss%.diff %(pid " .. t.pid .. ".*[^\n]\n$", out)
    status, out = run("diff --json --interval 0 " .. t.pid)
    assert.equal(0, status)
    assert.equal(t.pid, cjson.decode(out).pid)
    assert.equal("pss/1", cjson.decode(out).schema)
    status, out = run("self")
    assert.equal(0, status)
    assert.matches("lua5.4", out)
    local svg = os.tmpname()
    status = run(("map %d -o %s"):format(t.pid, svg))
    assert.equal(0, status)
    assert.is_true(os.execute(("xmllint --noout %s"):format(svg)))
    os.remove(svg)
  end)

  it("writes a core file of a running process", function ()
    local t <close> = support.start("--threads 1")
    local core = os.tmpname()
    local status, out = run(("core %d -o %s"):format(t.pid, core))
    assert.equal(0, status)
    assert.matches("core of pid " .. t.pid, out)
    local f = assert(io.open(core, "rb"))
    assert.equal("\127ELF", f:read(4))
    f:close()
    os.remove(core)
  end)

  it("says no such process, with status 1", function ()
    local pid = support.missing_pid()
    local status, out, err = run("threads " .. pid)
    assert.equal(1, status)
    assert.equal("", out)
    assert.equal(("pss: pid %d: no such process\n"):format(pid), err)
  end)

  it("says access denied as another user: the library's reason, else the hint", function ()
    if not support.is_root then
      pending("needs root to run as nobody")
      return
    end
    local t <close> = support.start("--threads 1")
    local status, _, err = run("threads " .. t.pid,
      "setpriv --reuid=nobody --regid=nogroup --clear-groups")
    assert.equal(1, status)
    assert.matches("^pss: PssCaptureSnapshot: access denied %(pid " .. t.pid .. "%)", err)
    if err:find("%(pid %d+%): ") then     -- the reason, from the library: nothing added
      assert.is_nil(err:find("run pss as", 1, true), err)
    else
      assert.matches("%(run pss as the process's user or as root%)\n$", err)
    end
  end)

  it("gives status 2 and the usage of the command on bad arguments", function ()
    for args, usage in pairs { [""] = "pss", nosuch = "pss", threads = "pss threads",
        ["threads abc"] = "pss threads", ["threads -5"] = "pss threads",
        ["diff 1 --interval x"] = "pss diff", ["core 1"] = "pss core",
        ["threads 1 2"] = "pss threads", ["help nosuch"] = "pss help" } do
      local status, out, err = run(args)
      assert.equal(2, status, args)
      assert.equal("", out, args)
      assert.matches("^Usage: " .. usage .. " ", err, args)
    end
  end)

  it("has --help for every subcommand", function ()
    for _, cmd in ipairs { "", "ps", "show", "threads", "handles", "maps", "diff", "stack",
        "core", "save", "map", "self", "help", "completion" } do
      local status, out = run(cmd .. " --help")
      assert.equal(0, status, cmd)
      assert.matches("^Usage: pss " .. cmd, out, cmd)
    end
  end)
end)

describe("pss.processes", function ()
  local pss = require "pss"

  it("lists every process with its parent, name, user, state and threads", function ()
    local t <close> = support.start("--threads 3")
    local seen = {}
    for p in pss.processes() do seen[p.pid] = p end
    local me = seen[support.my_pid()]
    assert.equal(support.read(("/proc/%d/comm"):format(me.pid)):gsub("\n$", ""), me.name)
    assert.equal(tonumber(support.stat(("/proc/%d/stat"):format(me.pid))[4]), me.ppid)
    local target = assert(seen[t.pid])
    assert.equal("pss-target", target.name)
    assert.equal(#t.threads, target.threads)
    assert.equal(support.is_root and "root" or target.user, target.user)
    assert.is_true(target.rss > 0)
    assert.matches("^[RSDTtZXI]$", target.state)
  end)

  it("skips a process that is gone by the time it is read", function ()
    local t = support.start("--threads 1")
    local pid = t.pid
    local iter = pss.processes()      -- the list is taken at the first step
    t:stop()
    for p in iter do assert.are_not.equal(pid, p.pid) end
  end)
end)
