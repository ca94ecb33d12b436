-- Sums TAP files into one line: "N passed, N failed, N skipped".
-- A suite whose file is missing, has no plan, or ran fewer tests than it
-- planned counts as one failure, so a crash can never look like success.
-- Usage: lua5.4 spec/support/tapsum.lua FILE...
local passed, failed, skipped = 0, 0, 0

local function read_suite (path)
  local f = io.open(path, "r")
  if not f then return nil, "no output" end
  local text = f:read("a")
  f:close()
  return text
end

local function count_suite (path)
  local text, err = read_suite(path)
  if not text then return 0, 0, 0, err end
  local ok, bad, skip, planned, ran = 0, 0, 0, nil, 0
  for line in text:gmatch("[^\n]+") do
    local n = line:match("^1%.%.(%d+)")
    if n then planned = (planned or 0) + tonumber(n) end
    local status, rest = line:match("^(n?o?t? ?ok) %d*(.*)")
    if status == "ok" or status == "not ok" then
      ran = ran + 1
      if rest:match("#%s*[Ss][Kk][Ii][Pp]") then
        skip = skip + 1
        io.stderr:write(("skipped (%s): %s\n"):format(path, rest))
      elseif status == "ok" then ok = ok + 1
      else bad = bad + 1 end
    end
  end
  if not planned then return ok, bad, skip, "no TAP plan" end
  if ran < planned then
    return ok, bad, skip, ("ran %d of %d planned tests"):format(ran, planned)
  end
  return ok, bad, skip
end

for _, path in ipairs(arg) do
  local ok, bad, skip, problem = count_suite(path)
  if problem then
    io.stderr:write(("suite %s: %s (counted as a failure)\n"):format(path, problem))
    bad = bad + 1
  end
  passed, failed, skipped = passed + ok, failed + bad, skipped + skip
end

print(("%d passed, %d failed, %d skipped"):format(passed, failed, skipped))
os.exit(failed == 0 and passed > 0)
