-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 14: pss.svg (lua/pss/svg.lua): the SVG map of a snapshot's address
-- space, checked with xmllint (libxml2-utils) and against /proc/PID/maps
-- read here independently (docs/lua-api.md, "pss.svg").
local pss = require "pss"
local support = require "support"
local S = require "pss.svg"
local report = require "pss.report"

local render = S.render

local function quote (s) return "'" .. s:gsub("'", "'\\''") .. "'" end

--- Runs xmllint on an SVG text (without the preloaded sanitizer runtime);
-- its output, whether it succeeded and, if not, how it ended (a process
-- that could not be started or was killed says so: such a failure is the
-- machine's, not the document's).
local function xmllint (svg, args)
  args = args or "--noout"
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  assert(f:write(svg))
  assert(f:close())
  local pipe, err = io.popen(("env -u LD_PRELOAD -u ASAN_OPTIONS xmllint %s %s 2>&1")
    :format(args, quote(path)))
  if not pipe then
    os.remove(path)
    error("xmllint could not be started: " .. tostring(err), 3)
  end
  local out = pipe:read("a")
  local ok, how, code = pipe:close()
  os.remove(path)
  return out, ok == true, ("xmllint %s (%s %s)"):format(args, tostring(how), tostring(code))
end

local function well_formed (svg)
  local out, ok, what = xmllint(svg)
  assert(ok, what .. ": " .. out)
end

--- An XPath expression evaluated by xmllint (elements by local name: the
-- document has the SVG namespace).
local function xpath (svg, expr)
  local out, ok, what = xmllint(svg, "--xpath " .. quote(expr))
  assert(ok, what .. ": " .. out)
  return (out:gsub("\n$", ""))
end

local ENTITIES = { amp = "&", lt = "<", gt = ">", quot = '"', apos = "'" }

--- XML text with its entities and character references replaced.
local function unescape (s)
  return (s:gsub("&(#?x?)(%w+);", function (kind, v)
    if kind == "" then return ENTITIES[v] end
    local code = tonumber(v, kind == "#x" and 16 or 10)
    return code and utf8.char(code)
  end))
end

--- The text of every label key of a document, by rank, as xmllint reads
-- it: one xmllint for all of them (a label each would start a hundred
-- processes for one test).
local function label_keys (svg)
  local keys = {}
  for rank, text in xpath(svg, "//*[@class='label-key']")
      :gmatch('<text class="label%-key" data%-rank="(%d+)"[^>]*>(.-)</text>') do
    keys[tonumber(rank)] = unescape(text)
  end
  return keys
end

local function count (svg, expr) return tonumber(xpath(svg, "count(" .. expr .. ")")) end

--- The region rectangles in document order: class, base, size, kind, prot,
-- x, y, width, title.
local function rects (svg)
  local list = {}
  for attrs, title in svg:gmatch('<rect class="region ([^>]*)><title>(.-)</title></rect>') do
    local r = { title = title }
    r.class = attrs:match('^([^"]*)"')
    for k, v in attrs:gmatch('([%w%-]+)="([^"]*)"') do r[k] = v end
    r.base = math.tointeger(tonumber(r["data-base"]:sub(3), 16))
    list[#list + 1] = r
  end
  return list
end

describe("pss.svg", function ()
  local t, snap, svg
  setup(function ()
    t = support.start("--threads 2 --resident 16 --extra-maps " .. support.scale(20, 6))
    snap = assert(pss.capture(t.pid, { "threads", "va_space" }))
    svg = render(snap)
  end)
  teardown(function ()
    if snap then snap:free() end
    if t then t:stop() end
  end)

  it("is well-formed XML in UTF-8, an svg document", function ()
    assert.equal("string", type(svg))
    assert.is_not_nil(utf8.len(svg))
    well_formed(svg)
    assert.equal(1, count(svg, "/*[local-name()='svg' and namespace-uri()='http://www.w3.org/2000/svg']"))
    assert.equal(svg, pss.svg(snap))
  end)

  it("has exactly one region element per region, in address order", function ()
    local regions = support.entries(snap, "regions")
    local maps = support.maps(t.pid)
    assert.equal(#maps, #regions)
    assert.equal(#regions, count(svg, "//*[contains(concat(' ', @class, ' '), ' region ')]"))
    local list = rects(svg)
    assert.equal(#regions, #list)
    for i, m in ipairs(maps) do
      assert.equal(m.start, list[i].base)
      assert.equal(tostring(m.finish - m.start), list[i]["data-size"])
      assert.equal(m.perms, list[i]["data-prot"])
    end
  end)

  it("colours regions by kind and marks their protection", function ()
    local by_base = {}
    for _, r in ipairs(rects(svg)) do by_base[r.base] = r end
    local want = {
      ["anon-rw"] = "k-private p-w", ["anon-ro"] = "k-private p-r", ["anon-none"] = "k-private p-none",
      ["anon-rx"] = "k-private p-x", ["anon-shared"] = "k-mapped p-w", ["file-private"] = "k-mapped p-r",
      ["file-shared"] = "k-mapped p-w", memfd = "k-mapped p-w", resident = "k-private p-w",
    }
    for kind, class in pairs(want) do
      local m = assert(t:map(kind), kind)
      local r = assert(by_base[m.start], kind)
      assert.equal(class, r.class, kind)
      assert.equal(class:match("^k%-(%S+)"), r["data-kind"])
      -- the tooltip: range, size, protection, path
      assert.equal(("0x%x-0x%x"):format(m.start, m.start + m.size), r.title:match("^(%S+)"), kind)
      assert.is_truthy(r.title:find("  " .. m.perms .. "  ", 1, true), kind)
      if m.path then assert.is_truthy(r.title:find("\n" .. S.escape(m.path), 1, true), kind) end
    end
    for _, m in ipairs(support.maps(t.pid)) do
      if m.path == "[heap]" then assert.equal("k-heap p-w", by_base[m.start].class) end
      if m.path == "[stack]" then assert.equal("k-stack p-w", by_base[m.start].class) end
    end
    local stacks = count(svg, "//*[contains(@class, 'k-stack')]")
    assert.is_true(stacks >= #t.threads, "a stack per thread")
  end)

  it("lays every region out inside the drawing, none on another", function ()
    for _, width in ipairs { 400, 1200, 3000 } do
      local doc = render(snap, { width = width })
      well_formed(doc)
      assert.equal(tostring(width), doc:match('<svg [^>]*width="(%d+)"'))
      local list = rects(doc)
      for i, r in ipairs(list) do
        local x, y, w = tonumber(r.x), tonumber(r.y), tonumber(r.width)
        assert.is_true(x >= 16 and x + w <= width - 16 + 1e-9, "inside")
        assert.is_true(w >= 6, "visible")
        for j = i + 1, #list do
          local o = list[j]
          local ox, oy, ow = tonumber(o.x), tonumber(o.y), tonumber(o.width)
          assert.is_true(oy ~= y or ox >= x + w or ox + ow <= x, "no overlap")
        end
      end
    end
  end)

  it("has a legend of every kind and protection", function ()
    assert.equal(1, count(svg, "//*[@class='legend']"))
    for _, kind in ipairs { "image", "mapped", "private", "stack", "heap", "other" } do
      assert.equal(1, count(svg, ("//*[@class='legend']//*[@class='legend-kind' and @data-kind='%s']"):format(kind)))
    end
    assert.equal(0, count(svg, "//*[@data-kind='free']"))   -- Linux has no free regions
    assert.equal(5, count(svg, "//*[@class='legend']//*[@class='legend-prot']"))
    -- captured without "memory_usage": no resident bars, nor their legend (spec 25)
    assert.equal(0, count(svg, "//*[@class='legend-resident' or @class='resident']"))
    assert.matches("mapped file", xpath(svg, "string(//*[@data-kind='mapped' and @class='legend-kind'])"))
  end)

  it("labels the largest regions", function ()
    local maps = support.maps(t.pid)
    table.sort(maps, function (a, b)
      local sa, sb = a.finish - a.start, b.finish - b.start
      if sa ~= sb then return sa > sb end
      return math.ult(a.start, b.start)
    end)
    local keys
    for _, labels in ipairs { 10, 3, 0, 100000 } do
      local doc = labels == 10 and svg or render(snap, { labels = labels })
      local n = math.min(labels, #maps)
      assert.equal(n, count(doc, "//*[@class='label']"))
      assert.equal(n, count(doc, "//*[@class='label-key']"))
      keys = n > 0 and label_keys(doc) or {}
      for i = 1, n do
        -- the label follows its region's rectangle; the key says which it is
        local base = ("0x%x"):format(maps[i].start)
        local at = assert(doc:find('data-base="' .. base .. '"', 1, true), base)
        local after = doc:sub(assert(doc:find("</rect>\n", at, true)) + 8)
        assert.is_truthy(after:find('^<text class="label" data%-rank="' .. i .. '"'),
          ("label %d on %s"):format(i, base))
        local key = assert(keys[i], ("no key for label %d"):format(i))
        assert.is_truthy(key:find(base, 1, true), key)
        assert.is_truthy(key:find(maps[i].perms, 1, true), key)
        if maps[i].path ~= "" then
          assert.is_truthy(key:find(report.printable(maps[i].path), 1, true), key)
        end
      end
    end
    -- the 16 MiB the target made resident (the largest, but for a
    -- sanitizer's shadow memory), in the last document: every region labelled
    local resident = assert(t:map("resident"))
    local doc = render(snap, { labels = 100000 })
    local rank = assert(doc:match(('data%%-base="0x%x"[^>]*>.-</rect>\n<text class="label" data%%-rank="(%%d+)"')
      :format(resident.start)))
    assert.matches(("^#%d +16%%.0 MiB  rw%%-p  private  0x%x  $"):format(rank, resident.start),
      keys[tonumber(rank)])
  end)
end)

describe("pss.svg of a region named with bytes that are not UTF-8", function ()
  it("stays well-formed and shows the bytes as \\x escapes", function ()
    local t <close> = support.start("--odd-name")
    local snap <close> = assert(pss.capture(t.pid, { "va_regions", "handles" }))
    local svg = render(snap, { labels = 100000, title = "odd \255 <&> \"title\"" })
    well_formed(svg)
    assert.is_not_nil(utf8.len(svg))
    local odd = assert(t:map("file-odd"))
    assert.equal("\255\254", odd.path:match("odd%-(..)%-name"))
    local escaped = odd.path:gsub("[\128-\255]", function (c) return ("\\x%02x"):format(c:byte()) end)
    local title = xpath(svg, ("string(//*[@data-base='0x%x']/*[local-name()='title'])"):format(odd.start))
    assert.is_truthy(title:find(escaped, 1, true), title)
    assert.equal("odd \\xff <&> \"title\"", xpath(svg, "string(/*/*[local-name()='title'])"))
  end)

  it("escapes every byte value in text and attributes", function ()
    local bytes = {}
    for b = 0, 255 do bytes[#bytes + 1] = string.char(b) end
    local all = table.concat(bytes) .. "\xed\xa0\x80\xef\xbf\xbe\xf4\x90\x80\x80\xc0\xaf é€𝄞"
    local escaped = S.escape(all)
    assert.is_not_nil(utf8.len(escaped))
    local doc = ('<?xml version="1.0" encoding="UTF-8"?>\n<t a="%s">%s</t>\n'):format(escaped, escaped)
    well_formed(doc)
    local text = xpath(doc, "string(/t)")
    assert.is_truthy(text:find("\\x00\\x01", 1, true))
    assert.is_truthy(text:find("\\x1f !\"#$%&'()*", 1, true))
    assert.is_truthy(text:find(";<=>?", 1, true))
    assert.is_truthy(text:find("}~\\x7f\\x80", 1, true))
    assert.is_truthy(text:find("\\xff\\xed\\xa0\\x80\\xef\\xbf\\xbe\\xf4\\x90\\x80\\x80\\xc0\\xaf é€𝄞", 1, true))
  end)
end)

describe("pss.svg of a zombie", function ()
  it("is a map without regions", function ()
    local z <close> = support.start_zombie(3)
    assert.is_true(support.wait_state(z.pid, "Z"))
    local snap <close> = assert(pss.capture(z.pid, { "va_space" }))
    local svg = render(snap)
    well_formed(svg)
    assert.equal(0, count(svg, "//*[contains(concat(' ', @class, ' '), ' region ')]"))
    assert.equal(0, count(svg, "//*[@class='label']"))
    assert.equal(1, count(svg, "//*[@class='legend']"))
  end)
end)

describe("pss.svg arguments", function ()
  it("raise for a snapshot without regions, what is not a snapshot, and bad options", function ()
    local snap <close> = assert(pss.capture(pss.self, { "threads" }))
    local regions <close> = assert(pss.capture(pss.self, { "va_regions" }))
    local function fails (pattern, ...)
      local args = table.pack(...)
      local ok, err = pcall(function ()
        local svg = render(table.unpack(args, 1, args.n))   -- not a tail call: this line is blamed
        return svg
      end)
      assert.is_false(ok)
      assert.matches(pattern, err)
      assert.matches("14_svg_spec.lua:%d+:", err)
    end
    fails("the snapshot has no regions %(capture it with the \"va_space\" or \"va_regions\" option%)", snap)
    fails("bad argument #1 to 'svg' %(snapshot expected, got nil%)")
    fails("bad argument #1 to 'svg' %(snapshot expected, got string%)", "snap")
    fails("bad argument #2 to 'svg' %(table expected, got number%)", regions, 800)
    fails("svg option 'width' must be an integer from 400 to 100000, got 10", regions, { width = 10 })
    fails("svg option 'width' must be an integer from 400 to 100000, got 800.5", regions, { width = 800.5 })
    fails("svg option 'labels' must be a non%-negative integer, got %-1", regions, { labels = -1 })
    fails("svg option 'title' must be a string, got number", regions, { title = 1 })
    fails("unknown svg option 'height'", regions, { height = 10 })
    local freed = assert(pss.capture(pss.self, { "va_regions" }))
    freed:free()
    fails("bad argument #1 to 'svg' %(snapshot expected, got freed snapshot%)", freed)
    -- a snapshot of regions without section information still renders
    well_formed(render(regions, { width = 400 }))
  end)
end)
