-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 19: pss.text (lua/pss/text.lua): the text rules the report, the diff,
-- the SVG map, the JSON writer and the pss command share. Pure Lua: no
-- snapshot is taken here.
local T = require "pss.text"

describe("pss.text.printable", function ()
  it("escapes every control byte, C0, DEL and C1, one \\xNN a byte", function ()
    for c = 0, 31 do assert.equal(("\\x%02x"):format(c), T.printable(string.char(c))) end
    assert.equal("\\x7f", T.printable("\127"))
    for c = 0x80, 0x9f do   -- C1 as UTF-8 is two bytes: both escaped
      assert.equal(("\\xc2\\x%02x"):format(c), T.printable(utf8.char(c)))
    end
    assert.equal("a\\x1b[2Jb\\x0d\\x0a", T.printable("a\27[2Jb\r\n"))
  end)

  it("escapes what is not UTF-8: stray, overlong, surrogate, too high, cut short", function ()
    local cases = {
      { "\255", "\\xff" }, { "\128", "\\x80" },
      { "\xc0\xaf", "\\xc0\\xaf" },                         -- overlong "/"
      { "\xe0\x80\xaf", "\\xe0\\x80\\xaf" },                -- overlong, three bytes
      { "\xed\xa0\x80", "\\xed\\xa0\\x80" },                -- a surrogate
      { "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" },       -- above U+10FFFF
      { "\xc3", "\\xc3" }, { "a\xe2\x82", "a\\xe2\\x82" },  -- cut short
      { "\xc3\x28", "\\xc3(" },                             -- a lead byte, then ASCII
      { "\xef\xbf\xbe\xef\xbf\xbf", "\\xef\\xbf\\xbe\\xef\\xbf\\xbf" },   -- U+FFFE, U+FFFF
    }
    for _, c in ipairs(cases) do assert.equal(c[2], T.printable(c[1]), ("%q"):format(c[1])) end
  end)

  it("keeps valid text as it is, and every result is valid UTF-8", function ()
    for _, s in ipairs { "", "plain", "with space ", "é€𝄞", "\u{a0}", "C:\\Windows", "a\\b", "[stack]" } do
      assert.equal(s, T.printable(s))
    end
    for c = 0, 255 do assert.is_not_nil(utf8.len(T.printable("x" .. string.char(c) .. "\xe2\x82"))) end
  end)

  it("escapes a backslash before an x, so every \\x is an escape", function ()
    assert.equal("\\x5cx41", T.printable("\\x41"))
    assert.equal("\\\\x5cx", T.printable("\\\\x"))
    assert.equal("\\x5cx\\x00", T.printable("\\x\0"))
  end)

  it("takes any value, as tostring does", function ()
    assert.equal("12", T.printable(12))
    assert.equal("nil", T.printable(nil))
  end)
end)

describe("pss.text.columns", function ()
  it("pads to the widest cell, two spaces apart, the last left-aligned cell unpadded", function ()
    assert.same({ "A    BB  C", "ccc  d   e" }, T.columns { { "A", "BB", "C" }, { "ccc", "d", "e" } })
    assert.same({ "TID  NAME", "  1  x", "123  " },
      T.columns({ { "TID", "NAME" }, { "1", "x" }, { "123", "" } }, { [1] = true }))
    assert.same({ "a   1", "bb  22" }, T.columns({ { "a", "1" }, { "bb", "22" } }, { [2] = false }))
    assert.same({ "a    1", "bb  22" }, T.columns({ { "a", " 1" }, { "bb", "22" } }, { [2] = true }))
    assert.same({}, T.columns {})
  end)

  it("counts characters, not bytes: multibyte names line up", function ()
    local lines = T.columns({ { "é€𝄞", "1" }, { "abcd", "22" }, { "ü", "333" } }, { [2] = true })
    assert.same({ "é€𝄞     1", "abcd   22", "ü     333" }, lines)
    for _, line in ipairs(lines) do assert.equal(9, utf8.len(line)) end
    assert.equal(3, T.width("é€𝄞"))
    assert.equal(2, T.width("\255\254"))   -- not UTF-8: its bytes
  end)

  it("makes an indented block without trailing spaces", function ()
    local out = { "heading" }
    T.block(out, { { "started", "12", "" }, { "ended", "3", "worker " } }, { [2] = true })
    assert.same({ "heading", "  started  12", "  ended     3  worker" }, out)
  end)
end)

describe("pss.text numbers", function ()
  it("sizes in binary units, an integer of 2^63 or more as unsigned", function ()
    local cases = {
      { 0, "0 B" }, { 1023, "1023 B" }, { 1024, "1.0 KiB" }, { 1048575, "1.0 MiB" },
      { 1 << 62, "4.0 EiB" }, { math.mininteger, "8.0 EiB" }, { -1, "16.0 EiB" }, { 2.5, "2 B" },
    }
    for _, c in ipairs(cases) do assert.equal(c[2], T.size(c[1]), tostring(c[1])) end
    assert.equal(2.0 ^ 64 - 4096, T.unsigned(-4096))
    assert.equal(7, T.unsigned(7))
    assert.equal(-1.5, T.unsigned(-1.5))
  end)

  it("addresses and bytes in lowercase hex", function ()
    assert.equal("0x7fff0000", T.address(0x7fff0000))
    assert.equal("0xffffffffffffffff", T.address(-1))
    assert.equal("00ff410a", T.hex("\0\255A\n"))
    assert.equal("", T.hex(""))
  end)

  it("orders keys as output lists them: integers unsigned, the rest by string", function ()
    local keys = { -1, 2, 1 << 63, 10, 0 }
    table.sort(keys, T.before)
    assert.same({ 0, 2, 10, 1 << 63, -1 }, keys)
    local names = { "b", "a", "B" }
    table.sort(names, T.before)
    assert.same({ "B", "a", "b" }, names)
  end)
end)

describe("pss.text is the one set of rules", function ()
  it("pss.report's printable and size are pss.text's", function ()
    local R = require "pss.report"
    assert.equal(T.printable, R.printable)
    assert.equal(T.size, R.size)
  end)
end)
