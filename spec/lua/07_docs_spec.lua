-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 07: docs/lua-api.md and pss.fields() list the same fields.
local pss = require "pss"
local support = require "support"

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local DOC = here .. "../../docs/lua-api.md"

--- The text of the section that starts with this heading, up to the next
-- heading.
local function section (text, heading)
  local from = assert(text:find("\n" .. heading, 1, true), "no section " .. heading)
  return text:sub(from, (text:find("\n##+ ", from + 1) or #text + 1) - 1)
end

--- The backquoted identifiers of a text, as a set.
local function quoted (text)
  local set = {}
  for name in text:gmatch("`([%l_][%l%d_]*)`") do set[name] = true end
  return set
end

--- The identifiers in the first column of a section's tables.
local function first_column (text)
  local list = {}
  for cell in text:gmatch("\n|([^|\n]*)|") do
    for name in cell:gmatch("`([%l_][%l%d_]*)`") do list[#list + 1] = name end
  end
  return list
end

local SECTIONS = {
  process = "### Process", thread = "### Thread (", thread_name = "### Thread name",
  handle = "### Handle", region = "### Region", performance = "### Performance counters",
  auxiliary_page = "### Auxiliary page", frame = "### Frame",
}
local ARMS = { "process", "thread", "mutant", "event", "section", "semaphore" }

describe("docs/lua-api.md", function ()
  local text = assert(support.read(DOC), "cannot read " .. DOC)

  it("documents every field pss.fields lists, in the record's own section", function ()
    for record, heading in pairs(SECTIONS) do
      if record == "frame" and pss.platform ~= "linux" then goto next end
      local documented = quoted(section(text, heading))
      for _, name in ipairs(pss.fields(record)) do
        assert.is_true(documented[name] == true,
          ("pss.fields(%q) has %q, which %q does not document"):format(record, name, heading))
      end
      ::next::
    end
    local handle = section(text, SECTIONS.handle)
    for _, arm in ipairs(ARMS) do
      local row = assert(handle:match("\n| `" .. arm .. "` |([^\n]*)"), "no union arm row " .. arm)
      local documented = quoted(row)
      for _, name in ipairs(pss.fields(arm .. "_arm")) do
        assert.is_true(documented[name] == true,
          ("pss.fields(%q) has %q, which the union arm table does not list"):format(arm .. "_arm", name))
      end
    end
  end)

  it("lists no field that pss.fields does not know", function ()
    local function known (record)
      local set = {}
      for _, name in ipairs(pss.fields(record)) do set[name] = true end
      return set
    end
    for record, heading in pairs(SECTIONS) do
      if record == "frame" and pss.platform ~= "linux" then goto next end
      local set = known(record)
      local names = record == "performance" and {} or first_column(section(text, heading))
      if record == "performance" then
        for name in pairs(quoted(section(text, heading))) do
          if name:match("_count$") or name:match("_period$") then names[#names + 1] = name end
        end
      end
      assert.is_true(#names > 0, heading)
      for _, name in ipairs(names) do
        assert.is_true(set[name] == true,
          ("%q documents %q, which pss.fields(%q) does not list"):format(heading, name, record))
      end
      ::next::
    end
    local handle = section(text, SECTIONS.handle)
    for _, arm in ipairs(ARMS) do
      local set = known(arm .. "_arm")
      for name in pairs(quoted(handle:match("\n| `" .. arm .. "` |([^\n]*)"))) do
        assert.is_true(set[name] == true, ("union arm %s documents %q"):format(arm, name))
      end
    end
  end)

  it("names every record pss.fields accepts", function ()
    local records = text:match("`pss%.fields%(record%)`(.-)\n###")
    local count = 0
    for name in records:gmatch('`"([%l_]+)"`') do
      count = count + 1
      if name ~= "frame" or pss.platform == "linux" then
        assert.is_true(#pss.fields(name) > 0, name)
      end
    end
    assert.equal(14, count)
  end)
end)
