-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 27: the pss command's edges: help, --version and usage errors of every
-- command, completion scripts that a shell parses and completes from,
-- system calls by name, thread stacks in the map, --json-lines, the
-- progress of a long core write on a terminal only, and no colour
-- (docs/pss.1.md). Run for real (bin/pss) against processes the spec
-- starts; shells, /proc and the svg's own attributes are the judges.
local cjson = require "cjson"
local pss = require "pss"
local support = require "support"

local run = support.run_pss
local q = support.quote

local X86_64 do
  local uname = io.popen("uname -m")
  X86_64 = uname:read("l") == "x86_64"
  uname:close()
end

--- Whether a program is on the PATH.
local function have (program)
  return os.execute(("command -v %s >/dev/null 2>&1"):format(program)) == true
end

--- Runs a shell command line with standard error (and standard input and
-- output, unless the line redirects them) on a new pseudo-terminal, as a
-- person's terminal: `script` (util-linux) makes it and copies what the
-- terminal got to its own standard output. Returns that and the status.
local function on_terminal (command)
  local p = assert(io.popen(("SHELL=/bin/sh script -qec %s /dev/null </dev/null"):format(q(command))))
  local out = p:read("a")
  local _, _, status = p:close()
  return out, status
end

--- The names of the commands, as `pss --help` lists them.
local function command_names ()
  local status, out = run("--help")
  assert.equal(0, status)
  local names = {}
  for line in (out:match("\nCommands:\n(.-)\n\n") or ""):gmatch("[^\n]+") do
    names[#names + 1] = line:match("^   (%S+)")
  end
  assert.is_true(#names >= 10, out)
  return names
end

--- The usage part of a help or usage message: everything before its
-- first empty line.
local function usage_of (text)
  return text:match("^(Usage: .-)\n\n")
end

describe("pss's help", function ()
  it("is `pss help` and `pss help COMMAND`, the same text as --help", function ()
    local status, out, err = run("help")
    local _, want = run("--help")
    assert.equal(0, status)
    assert.equal("", err)
    assert.equal(want, out)
    for _, name in ipairs(command_names()) do
      status, out, err = run("help " .. name)
      local wstatus, wout = run(name .. " --help")
      assert.equal(0, status, name)
      assert.equal(0, wstatus, name)
      assert.equal("", err, name)
      assert.equal(wout, out, name)
      assert.matches("^Usage: pss " .. name .. " ", out, name)
    end
  end)

  it("says the version with --version", function ()
    local status, out, err = run("--version")
    assert.equal(0, status)
    assert.equal("", err)
    assert.equal(("pss %s\n"):format(pss._VERSION or "unknown"), out)
    -- wherever it is on the line, as --help is
    assert.equal(out, select(2, run("--version ps")))
  end)

  it("answers a usage error with the usage of the command it was given to, status 2", function ()
    local cases = {
      { "", "pss", "a command is required" },
      { "nosuch", "pss", "unknown command 'nosuch'" },
      { "ps --nosuch", "pss ps", "unknown option '--nosuch'" },
      { "ps --json --json-lines", "pss ps", "can not be used together" },
      { "show", "pss show", "missing argument 'target'" },
      { "threads", "pss threads", "missing argument 'target'" },
      { "handles 0", "pss handles", "'0' is not a process id" },
      { "maps 1 2", "pss maps", "too many arguments" },
      { "diff", "pss diff", "missing argument 'target'" },
      { "stack 1 -n 0", "pss stack", "'0' is not a number of captures" },
      { "core 1", "pss core", "missing option '-o'" },
      { "save 1", "pss save", "missing option '-o'" },
      { "map 1", "pss map", "missing option '-o'" },
      { "self extra", "pss self", "too many arguments" },
      { "help nosuch", "pss help", "unknown command 'nosuch'" },
      { "completion fish", "pss completion", "must be one of 'bash', 'zsh'" },
    }
    local seen = {}
    for _, case in ipairs(cases) do
      local args, usage, why = case[1], case[2], case[3]
      local status, out, err = run(args)
      assert.equal(2, status, args)
      assert.equal("", out, args)
      -- the command's own usage, as its --help begins
      local _, help = run((usage:match("^pss ?(.*)$")) .. " --help")
      assert.equal(usage_of(help), usage_of(err), args)
      assert.matches("\n\npss: [^\n]*" .. why:gsub("%p", "%%%0") .. "[^\n]*\n$", err, nil, nil, args)
      seen[usage] = true
    end
    for _, name in ipairs(command_names()) do assert.is_true(seen["pss " .. name], name) end
  end)
end)

describe("pss completion", function ()
  it("prints a bash script that bash parses and completes from", function ()
    local status, script, err = run("completion bash")
    assert.equal(0, status, err)
    local dir = support.temp_dir()
    local file = dir .. "/pss.bash"
    local f = assert(io.open(file, "w"))
    f:write(script)
    f:close()
    local ok = os.execute("bash -n " .. q(file))
    --- What the completion function offers for the words of a command
    -- line, the last one being completed, sorted.
    local function complete (...)
      local words = {}
      for i, w in ipairs { ... } do words[i] = q(w) end
      local line = ("source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _pss; "
        .. "printf '%%s\\n' \"${COMPREPLY[@]}\""):format(q(file), table.concat(words, " "), #words - 1)
      local p = assert(io.popen("bash -c " .. q(line)))
      local offered = {}
      for w in p:read("a"):gmatch("[^\n]+") do offered[#offered + 1] = w end
      p:close()
      table.sort(offered)
      return offered
    end
    local sh = complete("pss", "sh")
    local names = complete("pss", "")
    local help = complete("pss", "help", "th")
    local flags = complete("pss", "threads", "--js")
    support.remove_dir(dir)
    assert.is_true(ok)
    assert.same({ "show" }, sh)
    local want = command_names()
    table.sort(want)
    assert.same(want, names)
    assert.same({ "threads" }, help)
    assert.same({ "--json", "--json-lines" }, flags)
  end)

  it("prints a zsh script, which zsh parses where it is installed", function ()
    local status, script, err = run("completion zsh")
    assert.equal(0, status, err)
    assert.matches("^#compdef pss\n", script)
    for _, name in ipairs(command_names()) do
      assert.truthy(script:find('\n    "' .. name .. ":", 1, true), name)
    end
    if not have("zsh") then
      pending("zsh is not installed: the script was not parsed by zsh")
      return
    end
    local dir = support.temp_dir()
    local file = dir .. "/_pss"
    local f = assert(io.open(file, "w"))
    f:write(script)
    f:close()
    local ok = os.execute("zsh -n " .. q(file))
    support.remove_dir(dir)
    assert.is_true(ok)
  end)
end)

describe("pss names system calls", function ()
  it("in pss threads and the triage example: the main thread in ppoll, the workers in futex",
      function ()
    local t <close> = support.start("--threads 2")
    assert.is_true(support.settle(t))
    -- the target waits in ppoll (main) and futex (workers); /proc says it
    -- is there, by the numbers of x86-64; elsewhere pss names no call
    local main, futex = X86_64 and "ppoll" or "#%d+", X86_64 and "futex" or "#%d+"
    for i, th in ipairs(X86_64 and t.threads or {}) do
      local n = support.read(("/proc/%d/task/%d/syscall"):format(t.pid, th.tid)):match("^%d+")
      assert.equal(i == 1 and "271" or "202", n, th.name)
    end
    local status, out = run("threads " .. t.pid)
    assert.equal(0, status)
    assert.matches("^%s*TID%s+NAME%s+S%s+CPU%(s%)%s+SYSCALL\n", out)
    for i, th in ipairs(t.threads) do
      local row = out:match("\n%s*" .. th.tid .. "%s[^\n]*")
      assert.truthy(row, th.name)
      assert.matches("%s" .. (i == 1 and main or futex) .. "$", row, nil, nil, row)
    end
    local p = assert(io.popen(("lua5.4 examples/triage.lua %d 2>&1"):format(t.pid)))
    local text = p:read("a")
    p:close()
    for i, th in ipairs(t.threads) do
      local line = text:match("\n%s*" .. th.tid .. "%s[^\n]*")
      assert.truthy(line, text)
      assert.matches("%sin " .. (i == 1 and main or futex) .. "%s", line, nil, nil, line)
    end
  end)
end)

describe("pss map", function ()
  it("draws each thread's stack as a stack", function ()
    local t <close> = support.start("--threads 2")
    assert.is_true(support.settle(t))
    local status, svg = run(("map %d -o -"):format(t.pid))
    assert.equal(0, status)
    local maps = support.maps(t.pid)
    for _, th in ipairs(t.threads) do
      -- the stack pointer the kernel gives for the blocked thread, and the
      -- mapping that holds it
      local words = {}
      for w in support.read(("/proc/%d/task/%d/syscall"):format(t.pid, th.tid)):gmatch("%S+") do
        words[#words + 1] = w
      end
      local sp = math.tointeger(tonumber(words[#words - 1]))
      local start
      for _, m in ipairs(maps) do
        if sp >= m.start and sp < m.finish then start = m.start end
      end
      assert.truthy(start, th.name)
      local kind = svg:match(('class="region k%%-(%%a+)[^"]*" data%%-base="0x%x"'):format(start))
      assert.equal("stack", kind, th.name)
    end
  end)
end)

describe("pss --json-lines", function ()
  --- The lines of out, each decoded; each must be one JSON object with the schema.
  local function decoded (out)
    local list = {}
    assert.matches("\n$", out)
    for line in out:gmatch("([^\n]*)\n") do
      assert.matches("^{.*}$", line)
      local v = cjson.decode(line)
      assert.equal("pss/1", v.schema, line)
      list[#list + 1] = v
    end
    return list
  end

  it("writes one object a line for ps, threads, handles and maps: the --json entries", function ()
    local t <close> = support.start("--threads 2")
    assert.is_true(support.settle(t))
    local status, out = run("ps --json-lines")
    assert.equal(0, status)
    local mine, target
    for _, p in ipairs(decoded(out)) do
      if p.pid == support.my_pid() then mine = p end
      if p.pid == t.pid then target = p end
    end
    assert.truthy(mine)
    assert.equal("pss-target", target.name)
    assert.equal(#t.threads, target.threads)
    for command, key in pairs { threads = "tid", handles = "handle", maps = "base_address" } do
      status, out = run(("%s --json-lines %d"):format(command, t.pid))
      assert.equal(0, status, command)
      local lines = decoded(out)
      local doc
      status, doc = run(("%s --json %d"):format(command, t.pid))
      assert.equal(0, status, command)
      doc = cjson.decode(doc)
      assert.equal("pss/1", doc.schema)
      assert.equal(t.pid, doc.pid)
      local list = doc[command == "maps" and "regions" or command]
      assert.equal(#list, #lines, command)
      for i, e in ipairs(list) do assert.equal(e[key], lines[i][key], command) end
    end
    assert.equal(#t.threads, #decoded((select(2, run("threads --json-lines " .. t.pid)))))
    local fds = #support.numbers("/proc/" .. t.pid .. "/fd")
    assert.equal(fds, #decoded((select(2, run("handles --json-lines " .. t.pid)))))
  end)

  it("is left out where a command does not list, and the documents carry the schema", function ()
    local t <close> = support.start("--threads 1")
    for _, args in ipairs { "show --json-lines 1", "diff --json-lines 1", "self --json-lines" } do
      local status, _, err = run(args)
      assert.equal(2, status, args)
      assert.matches("unknown option '%-%-json%-lines'", err, nil, nil, args)
    end
    for _, args in ipairs { "show --json " .. t.pid, "diff -i 0 --json " .. t.pid,
        "self --json", "stack --json " .. t.pid } do
      local status, out, err = run(args)
      assert.equal(0, status, err)
      assert.equal("pss/1", cjson.decode(out).schema, args)
    end
  end)
end)

describe("pss on a terminal", function ()
  --- A target with at least 64 MiB resident: a core larger than any pipe
  -- holds, so that its writer waits for the slow reader below.
  local function big_target ()
    local t = support.start("--threads 1 --resident 64")
    assert.is_true(support.settle(t))
    return t
  end

  --- The core of pid to a reader that starts after 2 s: the write lasts
  -- longer than a second whatever the machine.
  local function slow_core (pid, stderr)
    return ("bin/pss core %d -o - %s | { sleep 2; cat >/dev/null; }"):format(pid, stderr or "")
  end

  it("shows how far a long core write is, on standard error", function ()
    local t <close> = big_target()
    local out, status = on_terminal(slow_core(t.pid))
    assert.equal(0, status, out)
    local last
    for done, total in out:gmatch("\rpss: writing core: (%d+) of (%d+) MiB") do
      last = { tonumber(done), tonumber(total) }
      assert.is_true(last[1] <= last[2], out)
    end
    assert.truthy(last, out)
    assert.equal(last[2], last[1])      -- the last report: all of it
    assert.is_true(last[2] >= 64, out)
    -- the line is ended before the note (the terminal writes "\n" as "\r\n")
    assert.matches(" MiB\r\nstandard output: core of pid " .. t.pid .. ";", out)
  end)

  it("but not when standard error is not a terminal", function ()
    local t <close> = big_target()
    local dir = support.temp_dir()
    local err = dir .. "/stderr"
    local out = on_terminal(slow_core(t.pid, "2>" .. q(err)))
    local text = support.read(err)
    support.remove_dir(dir)
    assert.is_nil(out:find("writing core", 1, true), out)
    assert.is_nil(text:find("writing core", 1, true), text)
    assert.is_nil(text:find("\r", 1, true), text)
    assert.matches("^standard output: core of pid " .. t.pid, text)
  end)

  it("prints no colour, NO_COLOR or not", function ()
    local t <close> = support.start("--threads 1")
    for _, env in ipairs { "env -u NO_COLOR", "env NO_COLOR=1" } do
      for _, args in ipairs { "ps", "show " .. t.pid, "threads " .. t.pid, "maps " .. t.pid,
          "diff -i 0 " .. t.pid, "--help", "threads nosuch" } do
        local out = on_terminal(env .. " bin/pss " .. args)
        assert.truthy(out:find("\n", 1, true), args)
        assert.is_nil(out:find("\27", 1, true), args)    -- no escape sequence at all
      end
    end
  end)
end)
