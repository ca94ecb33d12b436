--- layers.lua: checks that libpss's files depend on each other one way.
--
--   lua5.4 spec/support/layers.lua BUILD_DIR
--
-- Calls come from `nm` of the objects under BUILD_DIR/src (which file
-- defines each symbol another one uses), includes from the sources. Every
-- call and every include must go to a file of the same layer or a lower
-- one, and neither graph may have a cycle between files. Prints one line
-- per finding and exits 1 if there is any. The layers, lowest first:
local LAYERS = {
  { "text", "^src/text%.c$", "^src/pss[%w_]*%.h$", "^src/linux/common%.h$" },
  { "store", "^src/linux/store/" },
  { "proc", "^src/linux/proc/" },
  { "ptrace", "^src/linux/ptrace/" },
  { "file", "^src/linux/file/" },
  { "api", "^src/linux/snapshot%.c$" },
  { "stack", "^src/stack/" },
}

-- The unwinder (src/stack/) is the top layer and a client of libpss like
-- any other: it includes only the public headers and its own, and calls
-- only the exported Pss* functions -- never a hidden internal one -- so it
-- serves live, saved and loaded snapshots alike. Nothing below calls it
-- (the direction check: it is the highest layer).
local CLIENT = "^src/stack/"
local CLIENT_INCLUDES = { "^src/pss[%w_]*%.h$", CLIENT }

local build = assert(arg[1], "usage: layers.lua BUILD_DIR")

local function layer_of (path)
  for rank, l in ipairs(LAYERS) do
    for i = 2, #l do
      if path:find(l[i]) then return rank, l[1] end
    end
  end
end

local function lines (command)
  local p = assert(io.popen(command))
  local out = {}
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

local sources = lines("find src/text.c src/pss.h src/pss_linux.h src/linux src/stack "
  .. "-name '*.[chS]' ! -name 'lpss_*' 2>/dev/null | sort")

--- Edges: graph[from][to] = what makes the dependency (symbols, or "include").
local calls, includes = {}, {}
local function add (graph, from, to, why)
  if from == to then return end
  graph[from] = graph[from] or {}
  local e = graph[from][to] or {}
  e[#e + 1] = why
  graph[from][to] = e
end

-- includes written from src/: #include "linux/proc/proc.h" or "pss.h"
for _, path in ipairs(sources) do
  local f = assert(io.open(path))
  for line in f:lines() do
    local inc = line:match('^%s*#%s*include%s+"([^"]+)"')
    if inc then
      local target = "src/" .. inc
      local dir_rel = path:match("^(.*/)") .. inc
      if io.open(dir_rel) and not io.open(target) then target = dir_rel end
      add(includes, path, target, "include")
    end
  end
  f:close()
end

-- calls: for each object, the symbols it uses that another object defines
local defined, used = {}, {}
local objects = lines(("find %s/src -name '*.o' | sort"):format(build))
local object_source = {}
for _, o in ipairs(objects) do
  local rel = o:sub(#build + 2):gsub("%.o$", "")
  for _, ext in ipairs({ ".c", ".S" }) do
    if io.open(rel .. ext) then object_source[o] = rel .. ext end
  end
end
local libpss_objects = ("%s/src/text.o $(find %s/src/linux %s/src/stack -name '*.o' 2>/dev/null)")
  :format(build, build, build)
for _, line in ipairs(lines("nm -A " .. libpss_objects)) do
  local o, kind, sym = line:match("^([^:]+):%x*%s+(%a)%s+(%S+)$")
  local src = o and object_source[o]
  if src then
    if kind == "U" then used[#used + 1] = { src, sym }
    elseif kind:match("[TDBRC]") then defined[sym] = src end
  end
end
for _, u in ipairs(used) do
  local to = defined[u[2]]
  if to then add(calls, u[1], to, u[2]) end
end

local findings = {}
local function finding (fmt, ...) findings[#findings + 1] = fmt:format(...) end

--- Every edge goes down or stays in its layer.
local function check_direction (graph, what)
  for from, tos in pairs(graph) do
    local rf, lf = layer_of(from)
    for to, why in pairs(tos) do
      local rt, lt = layer_of(to)
      if rf and not rt then
        finding("%s %s %s, which is in no layer of libpss", from, what, to)
      elseif rf and rt > rf then
        finding("%s (%s) %s %s (%s, a higher layer): %s", from, lf, what, to, lt,
          table.concat(why, " ", 1, math.min(#why, 4)))
      end
    end
  end
end

--- Cycles: Tarjan's strongly connected components of more than one file.
local function check_cycles (graph, what)
  local index, low, on, stack, n = {}, {}, {}, {}, 0
  local function visit (v)
    n = n + 1
    index[v], low[v] = n, n
    stack[#stack + 1], on[v] = v, true
    for w in pairs(graph[v] or {}) do
      if not index[w] then
        visit(w)
        low[v] = math.min(low[v], low[w])
      elseif on[w] then
        low[v] = math.min(low[v], index[w])
      end
    end
    if low[v] == index[v] then
      local component = {}
      repeat
        local w = table.remove(stack)
        on[w] = nil
        component[#component + 1] = w
      until w == v
      if #component > 1 then
        table.sort(component)
        finding("%s cycle between %s", what, table.concat(component, ", "))
      end
    end
  end
  local nodes = {}
  for v in pairs(graph) do nodes[#nodes + 1] = v end
  table.sort(nodes)
  for _, v in ipairs(nodes) do
    if not index[v] then visit(v) end
  end
end

--- Exported: the global symbols libpss's objects define with default
--- visibility (the rest is hidden by -fvisibility=hidden), from readelf.
local function exported_symbols ()
  local out = {}
  for _, line in ipairs(lines("readelf -sW " .. libpss_objects)) do
    -- "  16: 0000000000000020   234 FUNC    GLOBAL DEFAULT    1 PssWalkMarkerCreate"
    local bind, vis, ndx, sym =
      line:match("^%s*%d+:%s+%x+%s+%S+%s+%S+%s+(%S+)%s+(%S+)%s+(%S+)%s+(%S+)$")
    if bind == "GLOBAL" and vis == "DEFAULT" and ndx ~= "UND" then out[sym] = true end
  end
  return out
end

--- The client layer: its includes and the calls it makes into libpss.
local function check_client ()
  local exported = exported_symbols()
  for from, tos in pairs(includes) do
    if from:find(CLIENT) then
      for to in pairs(tos) do
        if not (to:find(CLIENT_INCLUDES[1]) or to:find(CLIENT_INCLUDES[2])) then
          finding("%s includes %s: the unwinder includes only pss.h and its own headers", from, to)
        end
      end
    end
  end
  for from, tos in pairs(calls) do
    if from:find(CLIENT) then
      for to, why in pairs(tos) do
        if not to:find(CLIENT) then
          for _, sym in ipairs(why) do
            if not (exported[sym] and sym:find("^Pss")) then
              finding("%s calls %s of %s: the unwinder calls only the exported Pss* API",
                from, sym, to)
            end
          end
        end
      end
    end
  end
end

for _, path in ipairs(sources) do
  if not layer_of(path) then finding("%s is in no layer (see LAYERS in layers.lua)", path) end
end
check_client()
check_direction(calls, "calls")
check_direction(includes, "includes")
check_cycles(calls, "call")
check_cycles(includes, "include")
if #objects == 0 then finding("no objects under %s/src: build libpss first", build) end

table.sort(findings)
for _, f in ipairs(findings) do print(f) end
os.exit(#findings == 0 and 0 or 1)
