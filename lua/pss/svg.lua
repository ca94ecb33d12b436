--- pss.svg: an SVG map of a snapshot's address space. `render(snap
-- [, options])` returns the SVG document as a string. Regions are filed
-- under memory kinds as pss.report does (`require("pss.report").regions`).
-- Pure Lua. See docs/lua-api.md, "pss.svg".
local report = require "pss.report"
local text = require "pss.text"

local M = {}

local function core () return require "pss.core" end

--- Colours of the memory kinds, in legend order: kind, legend text, fill.
M.colors = {
  { "image", "image", "#4e79a7" },
  { "mapped", "mapped file", "#59a14f" },
  { "private", "private", "#f28e2b" },
  { "stack", "stack", "#e15759" },
  { "heap", "heap", "#b07aa1" },
  { "other", "other", "#9d9589" },
  { "free", "free", "#ffffff" },
}
local COLOR = {}
for _, c in ipairs(M.colors) do COLOR[c[1]] = c[3] end

-- Geometry, in pixels.
local MARGIN, ROW, BOX, CHAR = 16, 30, 22, 6.6
local UNIT, MIN_W = 10, 6      -- width = MIN_W + UNIT * log2(size / 4 KiB)
local BAR, BAR_FILL = 5, "#1a1a1a"   -- the resident bar along a box's bottom edge
local LEGEND_X = 60

--- {======================================================================
-- XML
-- ======================================================================

--- Text for XML content and attribute values: valid UTF-8 (undecodable
-- bytes and control characters as "\xNN", see pss.text's printable) with
-- the five XML special characters escaped.
local ESCAPES = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&apos;" }

--- Printable text (pss.text's printable already applied, as to
-- region_name's) for XML: printable twice would escape its backslashes.
local function xml (s)
  return (s:gsub("[&<>\"']", ESCAPES))
end

function M.escape (s)
  return xml(text.printable(s))
end
local esc = M.escape

--- A number for an attribute: at most one decimal.
local function num (v)
  if math.type(v) == "integer" then return tostring(v) end
  return (("%.1f"):format(v):gsub("%.0$", ""))
end

--- A start tag without its ">": attrs is a list of {name, value}, numbers
-- or strings (escaped here).
local function tag (name, attrs)
  local parts = { "<" .. name }
  for _, a in ipairs(attrs) do
    local v = a[2]
    parts[#parts + 1] = ('%s="%s"'):format(a[1], type(v) == "number" and num(v) or esc(v))
  end
  return table.concat(parts, " ")
end

--- An element; content is markup (already escaped), or nil for none.
local function el (name, attrs, content)
  if content == nil then return tag(name, attrs) .. "/>" end
  return tag(name, attrs) .. ">" .. content .. "</" .. name .. ">"
end

--- Appends the pairs of b to the list a; returns a.
local function extend (a, b)
  return table.move(b, 1, #b, #a + 1, a)
end
--- }======================================================================


local hex, size = text.address, text.size

--- The drawn width of a region of this size.
local function box_width (bytes)
  local pages = text.unsigned(bytes) / 4096
  return MIN_W + UNIT * math.log(math.max(pages, 1), 2)
end

--- Protection of a "rw-p"-style string: readable, writable, executable.
local function protection (protect)
  protect = protect or ""
  return protect:sub(1, 1) == "r", protect:sub(2, 2) == "w", protect:sub(3, 3) == "x"
end

local THIN = { { "stroke", "#333333" }, { "stroke-width", 0.6 } }

--- The class and drawing attributes of a protection.
local function prot_style (r, w, x)
  if w and x then return "p-wx", { { "stroke", "#d00000" }, { "stroke-width", 3 } } end
  if x then return "p-x", { { "stroke", "#111111" }, { "stroke-width", 2.5 } } end
  if w then return "p-w", extend({ { "fill-opacity", 1 } }, THIN) end
  if r then return "p-r", extend({ { "fill-opacity", 0.5 } }, THIN) end
  return "p-none", extend({ { "fill-opacity", 0.15 }, { "stroke-dasharray", "3 2" } }, THIN)
end

local PROTECTIONS = {
  { "p-r", "read-only", true, false, false }, { "p-w", "writable", true, true, false },
  { "p-x", "executable", true, false, true }, { "p-wx", "writable and executable", true, true, true },
  { "p-none", "no access (reserved)", false, false, false },
}

--- {======================================================================
-- Options
-- ======================================================================

local KNOWN = { width = true, labels = true, title = true }

local function check_options (options)
  if options == nil then options = {} end
  if type(options) ~= "table" then
    error(("bad argument #2 to 'svg' (table expected, got %s)"):format(type(options)), 3)
  end
  for k in pairs(options) do
    if not KNOWN[k] then error(("unknown svg option '%s'"):format(tostring(k)), 3) end
  end
  local width, labels, title = options.width or 1200, options.labels or 10, options.title
  if math.type(width) ~= "integer" or width < 400 or width > 100000 then
    error(("svg option 'width' must be an integer from 400 to 100000, got %s"):format(tostring(width)), 3)
  end
  if math.type(labels) ~= "integer" or labels < 0 then
    error(("svg option 'labels' must be a non-negative integer, got %s"):format(tostring(labels)), 3)
  end
  if title ~= nil and type(title) ~= "string" then
    error(("svg option 'title' must be a string, got %s"):format(type(title)), 3)
  end
  return { width = width, labels = labels, title = title }
end
--- }======================================================================


--- {======================================================================
-- Drawing
-- ======================================================================

--- Runs of adjacent regions: each starts where the one before it ends.
-- A run after the first has `gap`, the bytes between it and the run before.
local function runs_of (regions)
  local list, current = {}, nil
  for _, r in ipairs(regions) do
    if current and r.base_address == current.finish then
      current[#current + 1] = r
    else
      current = { r, gap = current and r.base_address - current.finish, size = 0 }
      list[#list + 1] = current
    end
    current.finish = r.base_address + r.region_size
    current.size = current.size + r.region_size
  end
  return list
end

--- A <text> element of plain text (escaped here).
local function text_el (attrs, content)
  return el("text", attrs, esc(content))
end

--- The resident bar of a region with rss bytes resident, in a box at x, y
-- of width w: its width is the resident share of the box (1 px at least,
-- so that a resident page shows in a large region).
local function resident_bar (r, x, y, w)
  local share = text.unsigned(r.rss) / text.unsigned(r.region_size)
  return el("rect", { { "class", "resident" }, { "data-base", hex(r.base_address) },
    { "data-rss", ("%d"):format(r.rss) }, { "x", x }, { "y", y + BOX - BAR },
    { "width", math.max(1, w * math.min(share, 1)) }, { "height", BAR }, { "fill", BAR_FILL } })
end

--- Draws the legend with its top at y; the y below it. With usage, a last
-- item says what the resident bar is.
local function legend (out, y, width, free, usage)
  out[#out + 1] = tag("g", { { "class", "legend" }, { "transform", ("translate(%d,%d)"):format(MARGIN, y) } }) .. ">"
  out[#out + 1] = text_el({ { "x", 0 }, { "y", 12 }, { "font-weight", "bold" } }, "Legend")
  local x = LEGEND_X
  for _, c in ipairs(M.colors) do
    if c[1] == "free" and not free then break end
    out[#out + 1] = el("g", { { "class", "legend-kind" }, { "data-kind", c[1] } },
      el("rect", extend({ { "x", x }, { "y", 2 }, { "width", 14 }, { "height", 14 }, { "fill", c[3] } }, THIN))
      .. text_el({ { "x", x + 18 }, { "y", 13 } }, c[2]))
    x = x + 26 + #c[2] * CHAR
  end
  local px, py = LEGEND_X, 24
  for _, p in ipairs(PROTECTIONS) do
    local _, style = prot_style(p[3], p[4], p[5])
    local box = extend({ { "x", px }, { "y", py + 2 }, { "width", 22 }, { "height", 14 }, { "fill", "#bbbbbb" } },
      style)
    out[#out + 1] = el("g", { { "class", "legend-prot" }, { "data-prot", p[1] } },
      el("rect", box) .. text_el({ { "x", px + 28 }, { "y", py + 13 } }, p[2]))
    px = px + 40 + #p[2] * CHAR
    if px > width - 2 * MARGIN - 160 then px, py = LEGEND_X, py + 20 end
  end
  if usage then
    local what = "resident part (bar width: rss / size)"
    if px > LEGEND_X then px, py = LEGEND_X, py + 20 end
    out[#out + 1] = el("g", { { "class", "legend-resident" } },
      el("rect", extend({ { "x", px }, { "y", py + 2 }, { "width", 40 }, { "height", BOX },
        { "fill", "#bbbbbb" } }, THIN))
      .. el("rect", { { "x", px }, { "y", py + 2 + BOX - BAR }, { "width", 24 }, { "height", BAR },
        { "fill", BAR_FILL } })
      .. text_el({ { "x", px + 48 }, { "y", py + 17 } }, what))
    py = py + BOX - 14      -- a box high where a protection row is 14 px
  end
  out[#out + 1] = text_el({ { "x", LEGEND_X }, { "y", py + 34 }, { "fill", "#555555" } },
    ("Width grows with log2 of the size: 4 KiB is %d px, each doubling adds %d px."
      .. " Each row starts a run of adjacent regions."):format(MIN_W, UNIT))
  out[#out + 1] = "</g>"
  return y + py + 44
end

--- The tooltip of a region: range, size, protection, kind, state, and
-- what is resident and swapped (with usage); name.
local function tooltip (r)
  local name = report.region_name(r)
  local head = ("%s-%s  %s  %s  %s%s%s"):format(hex(r.base_address), hex(r.base_address + r.region_size),
    size(r.region_size), r.protect or "-", r.memory_kind,
    r.state and r.state ~= "commit" and (" (" .. r.state .. ")") or "",
    r.rss and ("  %s resident, %s swapped"):format(size(r.rss), size(r.swap or 0)) or "")
  return esc(head) .. (name ~= "" and ("\n" .. xml(name)) or "")
end
--- }======================================================================


--- The SVG map of a snapshot's regions (docs/lua-api.md, "pss.svg").
-- @param snap a snapshot captured with "va_space" or "va_regions"
-- @param options nil or a table: width (1200), labels (10), title
-- @return the SVG document
function M.render (snap, options)
  local kind = core().type(snap)
  if kind ~= "snapshot" then
    error(("bad argument #1 to 'svg' (snapshot expected, got %s)"):format(kind or type(snap)), 2)
  end
  local opt = check_options(options)
  if not snap:captured("va_space") then
    error("svg: the snapshot has no regions (capture it with the \"va_space\" or \"va_regions\" option)", 2)
  end
  local regions = report.regions(snap)
  local usage = report.has_usage(regions)
  local p = snap:query("process")
  local width, right = opt.width, opt.width - MARGIN

  -- the largest regions, labelled #1, #2, ...
  local by_size, total, resident = {}, 0, 0
  for _, r in ipairs(regions) do
    if r.memory_kind ~= "free" then
      by_size[#by_size + 1] = r
      total, resident = total + r.region_size, resident + (r.rss or 0)
    end
  end
  local free = #by_size < #regions
  table.sort(by_size, function (a, b)
    if a.region_size ~= b.region_size then return math.ult(b.region_size, a.region_size) end
    return math.ult(a.base_address, b.base_address)
  end)
  local labels = math.min(opt.labels, #by_size)
  local rank = {}
  for i = 1, labels do rank[by_size[i]] = i end

  local runs = runs_of(regions)
  local name = p.comm or p.image_file_name
  local title = opt.title or ("Address space of pid %d%s"):format(p.pid, name and (" (" .. name .. ")") or "")
  local body = {
    text_el({ { "class", "title" }, { "x", MARGIN }, { "y", MARGIN + 12 }, { "font-size", 16 },
      { "font-weight", "bold" } }, title),
    text_el({ { "class", "summary" }, { "x", MARGIN }, { "y", MARGIN + 30 } },
      ("%d regions, %s mapped%s, in %d run%s of adjacent regions"):format(#regions, size(total),
        usage and (" (%s resident)"):format(size(resident)) or "", #runs, #runs == 1 and "" or "s")),
  }
  local y = legend(body, MARGIN + 40, width, free, usage)

  for _, run in ipairs(runs) do
    body[#body + 1] = text_el({ { "class", "run" }, { "x", MARGIN }, { "y", y + 12 }, { "fill", "#333333" } },
      ("%s-%s  %s in %d region%s%s"):format(hex(run[1].base_address), hex(run.finish), size(run.size),
        #run, #run == 1 and "" or "s", run.gap and (", after a gap of " .. size(run.gap)) or ""))
    y = y + 18
    local x = MARGIN
    for _, r in ipairs(run) do
      local w = math.min(box_width(r.region_size), right - MARGIN)
      if x + w > right and x > MARGIN then x, y = MARGIN, y + ROW end
      local class, style = prot_style(protection(r.protect))
      local attrs = { { "class", ("region k-%s %s"):format(r.memory_kind, class) },
        { "data-base", hex(r.base_address) }, { "data-size", ("%d"):format(r.region_size) },
        { "data-kind", r.memory_kind }, { "data-prot", r.protect or "" } }
      if r.rss then attrs[#attrs + 1] = { "data-rss", ("%d"):format(r.rss) } end
      extend(attrs, { { "x", x }, { "y", y }, { "width", w }, { "height", BOX },
        { "fill", COLOR[r.memory_kind] } })
      body[#body + 1] = el("rect", extend(attrs, style), ("<title>%s</title>"):format(tooltip(r)))
      if rank[r] then
        body[#body + 1] = text_el({ { "class", "label" }, { "data-rank", rank[r] }, { "x", x + w / 2 },
          { "y", y + 15 }, { "font-size", 10 }, { "text-anchor", "middle" }, { "stroke", "#ffffff" },
          { "stroke-width", 2.5 }, { "paint-order", "stroke" } }, "#" .. rank[r])
      end
      if r.rss and r.rss ~= 0 then body[#body + 1] = resident_bar(r, x, y, w) end
      x = x + w + 2
    end
    y = y + ROW + 6
  end

  -- the key of the labels
  if labels > 0 then
    y = y + 8
    body[#body + 1] = text_el({ { "x", MARGIN }, { "y", y + 12 }, { "font-weight", "bold" } },
      ("The %d largest regions"):format(labels))
    y = y + 18
    for i = 1, labels do
      local r = by_size[i]
      body[#body + 1] = el("text", { { "class", "label-key" }, { "data-rank", i }, { "x", MARGIN },
        { "y", y + 12 }, { "xml:space", "preserve" } },
        esc(("#%-3d %10s  %s%s  %-8s %s  "):format(i, size(r.region_size),
          r.rss and ("%10s resident  "):format(size(r.rss)) or "", r.protect or "-",
          r.memory_kind, hex(r.base_address))) .. xml(report.region_name(r)))
      y = y + 16
    end
  end
  y = y + MARGIN

  local out = {
    '<?xml version="1.0" encoding="UTF-8"?>',
    tag("svg", { { "xmlns", "http://www.w3.org/2000/svg" }, { "version", "1.1" }, { "width", width },
      { "height", y }, { "viewBox", ("0 0 %d %d"):format(width, y) }, { "font-family", "monospace" },
      { "font-size", 11 }, { "data-pid", p.pid }, { "data-regions", #regions } }) .. ">",
    ("<title>%s</title>"):format(esc(title)),
    el("rect", { { "class", "background" }, { "x", 0 }, { "y", 0 }, { "width", "100%" }, { "height", "100%" },
      { "fill", "#fafafa" } }),
  }
  extend(out, body)
  out[#out + 1] = "</svg>"
  out[#out + 1] = ""
  return table.concat(out, "\n")
end

return M
