--- pss.json(value): JSON text of a snapshot, a diff (pss.diff) or a list
-- of records (process entries, thread, handle or region entries), and
-- lines(list): JSON Lines of records. Strings are escaped by lua-cjson;
-- containers and numbers are written here: cjson 2.1 writes numbers with
-- 14 significant digits and every empty table as {}, and the text must be
-- exact and keep lists as lists. A field has one JSON type whatever its
-- value: an address is always a "0x..." string, any other integer always
-- a number. See docs/lua-api.md ("pss.json").
local cjson = require("cjson").new()
local text = require "pss.text"

local M = {}

--- The schema of the documents: a snapshot's or a diff's object, each
-- line of lines(), and what the pss command writes, carry it as "schema".
-- A reader checks it; a change that breaks one gets a new number.
M.SCHEMA = "pss/1"

local function set (list)
  local s = {}
  for _, k in ipairs(list) do s[k] = true end
  return s
end

--- Integer fields written as "0x..." strings: addresses and other 64-bit
-- words (masks, registers, system call arguments).
M.hex_fields = set {
  "peb_base_address", "entry_point", "affinity_mask",                          -- process
  "teb_base_address", "win32_start_address", "last_syscall_first_argument",     -- thread
  "last_syscall_arguments", "last_syscall_stack_pointer", "last_syscall_program_counter",
  "base_address", "allocation_base", "image_base",                              -- region, section arm
  "rip", "rsp", "rbp", "rax", "rbx", "rcx", "rdx", "rsi", "rdi",                 -- context
  "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "fs_base",
  "dr0", "dr1", "dr2", "dr3", "dr6", "dr7",
  "address", "pc", "module_start",                                              -- aux page, frame
}

--- Unsigned 64-bit integer fields: a value of 2^63 or more, a negative
-- Lua integer, is written as the unsigned number it stands for.
M.unsigned_fields = set {
  "peak_virtual_size", "virtual_size", "peak_working_set_size", "working_set_size",
  "quota_peak_paged_pool_usage", "quota_paged_pool_usage", "quota_peak_non_paged_pool_usage",
  "quota_non_paged_pool_usage", "pagefile_usage", "peak_pagefile_usage", "private_usage",
  "start_time_ticks", "minor_faults", "major_faults", "resident_anon", "resident_file",
  "resident_shmem", "region_size", "maximum_size", "inode", "offset", "position", "count",
  "module_offset",
  "total_cycle_count", "threads_cycle_count", "handles_cycle_count", "va_space_cycle_count",
  "va_clone_cycle_count", "aux_pages_cycle_count", "freeze_cycle_count",
  "rss", "pss", "pss_dirty", "shared_clean", "shared_dirty", "private_clean",   -- memory usage
  "private_dirty", "referenced", "anonymous", "ksm", "lazy_free", "anon_huge_pages",
  "shmem_pmd_mapped", "file_pmd_mapped", "shared_hugetlb", "private_hugetlb", "swap",
  "swap_pss", "locked",
}

--- Byte-string fields written as lowercase hex (two digits a byte).
M.bytes_fields = set { "fltsave", "xstate", "contents" }

--- Metatable names (__name) of pss.diff's tables: entries keyed by tid,
-- handle or address become a list in key order; the others objects.
local KEYED = "pss.diff.entries"
local OBJECTS = set { "pss.diff", "pss.diff.counters" }

--- An encoding error: raised with the path of the value, caught by encode.
local Failure = {}

local function where (path)
  local s = "$"
  for _, k in ipairs(path) do
    s = s .. (math.type(k) == "integer" and ("[%d]"):format(k) or "." .. tostring(k))
  end
  return s
end

local function fail (path, what)
  error(setmetatable({ text = ("cannot encode %s at %s"):format(what, where(path)) }, Failure))
end

--- A JSON string of valid UTF-8 (cjson escapes; "\/" is just "/").
local function quote (s)
  return (cjson.encode(s):gsub("\\/", "/"))
end

--- The unsigned decimal digits of a 64-bit integer.
local function unsigned (v)
  if v >= 0 then return ("%d"):format(v) end
  local q = (v >> 1) // 5          -- v >> 1 is the unsigned value halved
  return ("%d%d"):format(q, v - q * 10)
end

--- An integer: a "0x..." string in a hex field, else its exact decimal,
-- as a number also above 2^53 (a reader with doubles rounds it, rather
-- than meet a string where it had a number).
local function integer (v, key)
  if M.hex_fields[key] then return ('"0x%x"'):format(v) end
  if v < 0 and M.unsigned_fields[key] then return unsigned(v) end
  return ("%d"):format(v)
end

--- The shortest text that reads back as the same double.
local function float (v, path)
  if v ~= v or v == math.huge or v == -math.huge then fail(path, tostring(v)) end
  for _, f in ipairs { "%.15g", "%.16g" } do
    local s = f:format(v)
    if tonumber(s) == v then return s end
  end
  return ("%.17g"):format(v)
end

local encode_value

--- The entries of a snapshot as a list.
local function list (iterator, snap)
  local l = {}
  for e in iterator(snap) do l[#l + 1] = e end
  return l
end

--- A snapshot as a table: the process record, then what was captured;
-- the schema too when it is the document (not a value inside one).
local function snapshot_table (snap, document)
  local value = { schema = document and M.SCHEMA or nil, process = snap:query("process") }
  if snap:captured("threads") then value.threads = list(snap.threads, snap) end
  if snap:captured("handles") then value.handles = list(snap.handles, snap) end
  if snap:captured("va_space") then value.regions = list(snap.regions, snap) end
  if snap:captured("performance") then value.performance = snap:query("performance") end
  return value
end

local function encode_object (t, keys, out, path, seen)
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    if utf8.len(k) == nil then fail(path, "a key that is not UTF-8") end
    out[#out + 1] = (i > 1 and "," or "") .. quote(k) .. ":"
    path[#path + 1] = k
    encode_value(t[k], k, out, path, seen)
    path[#path] = nil
  end
  out[#out + 1] = "}"
end

local function encode_array (values, key, out, path, seen)
  out[#out + 1] = "["
  for i, v in ipairs(values) do
    if i > 1 then out[#out + 1] = "," end
    path[#path + 1] = i
    encode_value(v, key, out, path, seen)
    path[#path] = nil
  end
  out[#out + 1] = "]"
end

local function encode_table (t, key, out, path, seen)
  if seen[t] then fail(path, "a table that contains itself") end
  seen[t] = true
  local mt = getmetatable(t)
  local name = type(mt) == "table" and rawget(mt, "__name") or nil
  local keys, strings, integers, top = {}, 0, 0, 0
  for k in next, t do
    keys[#keys + 1] = k
    if type(k) == "string" then
      strings = strings + 1
    elseif math.type(k) == "integer" then
      integers = integers + 1
      if k > top then top = k end
    elseif name ~= KEYED then
      fail(path, ("a table with a %s key"):format(math.type(k) or type(k)))
    end
  end
  table.sort(keys, text.before)   -- integers as unsigned (addresses), strings bytewise
  if name == KEYED then           -- pss.diff entries: a list in key order
    local values = {}
    for i, k in ipairs(keys) do values[i] = t[k] end
    encode_array(values, key, out, path, seen)
  elseif OBJECTS[name] or (strings > 0 and integers == 0) then
    if integers > 0 then fail(path, "an object with integer keys") end
    encode_object(t, keys, out, path, seen)
  elseif strings > 0 then
    fail(path, "a table with both string and integer keys")
  elseif integers ~= top or (integers > 0 and keys[1] ~= 1) then
    fail(path, "a table with integer keys that are not 1..n (a list with holes?)")
  else                            -- a list, empty ones included
    encode_array(t, key, out, path, seen)
  end
  seen[t] = nil
end

function encode_value (v, key, out, path, seen)
  local kind = type(v)
  if kind == "string" then
    if M.bytes_fields[key] then
      out[#out + 1] = '"' .. text.hex(v) .. '"'
    elseif utf8.len(v) then
      out[#out + 1] = quote(v)
    else                          -- not UTF-8: the exact bytes, as hex
      out[#out + 1] = '{"hex":"' .. text.hex(v) .. '"}'
    end
  elseif kind == "number" then
    out[#out + 1] = math.type(v) == "integer" and integer(v, key) or float(v, path)
  elseif kind == "boolean" then
    out[#out + 1] = tostring(v)
  elseif kind == "table" then
    encode_table(v, key, out, path, seen)
  elseif v == cjson.null then
    out[#out + 1] = "null"
  elseif kind == "userdata" then
    local what = require("pss").type(v)
    if what == "snapshot" then
      encode_table(snapshot_table(v, #path == 0), key, out, path, seen)
    else
      fail(path, what and ("a " .. what) or "a userdata")
    end
  else
    fail(path, "a " .. kind)
  end
end

--- A diff as a document: its fields and the schema (the diff itself is
-- left as it is).
local function diff_document (d)
  local doc = { schema = M.SCHEMA }
  for k, v in next, d do doc[k] = v end
  return setmetatable(doc, { __name = "pss.diff" })
end

--- The text of value, or nil and the message of what it cannot hold.
local function text_of (value, path)
  local out = {}
  local mt = type(value) == "table" and getmetatable(value)
  if type(mt) == "table" and rawget(mt, "__name") == "pss.diff" then value = diff_document(value) end
  local ok, err = pcall(encode_value, value, nil, out, path or {}, {})
  if ok then return table.concat(out) end
  if getmetatable(err) == Failure then return nil, "pss.json: " .. err.text end
  error(err, 0)
end

--- JSON text of value: a snapshot, a pss.diff result (each an object with
-- the schema), or plain tables (lists and records). Raises on what JSON
-- cannot hold.
function M.encode (value)
  local json, err = text_of(value)
  if not json then error(err, 2) end
  return json
end

--- JSON Lines text of a list of records (tables with string keys): one
-- object a line, each record's fields and the schema, each line ended by
-- "\n"; "" for an empty list. Raises as encode does.
function M.lines (records)
  local out = {}
  for i, record in ipairs(records) do
    if type(record) ~= "table" then
      error(("pss.json: cannot encode a line that is not a record (a %s) at $[%d]")
        :format(type(record), i), 2)
    end
    local doc = { schema = M.SCHEMA }
    for k, v in next, record do doc[k] = v end
    local json, err = text_of(doc, { i })
    if not json then error(err, 2) end
    out[i] = json .. "\n"
  end
  return table.concat(out)
end

return M
