-- luacheck: globals describe it assert
--- 20: pss.capture checks its flags in Lua (so pss.core never raises for
-- what it passes, and errors name the caller's line); these checks must be
-- the C library's own. Every single bit, and every pair of the bits the
-- rules tie together, must raise from pss.capture exactly when it raises
-- from pss.core.capture.
local pss = require "pss"
local core = require "pss.core"

--- The bits that the rules of check_capture_flags (src/linux/snapshot.c)
-- tie together: a detail and what it details.
local RULED = {
  core.CAPTURE_HANDLES, core.CAPTURE_HANDLE_NAME_INFORMATION,
  core.CAPTURE_HANDLE_BASIC_INFORMATION, core.CAPTURE_HANDLE_TYPE_SPECIFIC_INFORMATION,
  core.CAPTURE_VA_SPACE, core.CAPTURE_VA_SPACE_SECTION_INFORMATION,
  core.CAPTURE_THREADS, core.CAPTURE_THREAD_CONTEXT, core.CAPTURE_THREAD_CONTEXT_EXTENDED,
  core.CAPTURE_VA_CLONE,
  core.LINUX_CAPTURE_UNFROZEN,          -- nil on Windows: the list ends before it
  core.LINUX_CAPTURE_STACKS,
}

--- Whether capture(pss.self, flags) raises, and the message; a snapshot
-- it makes is freed. Not a tail call: the error names this line.
local function raises (capture, flags)
  local ok, snap = pcall(function ()
    local snap = capture(pss.self, flags)
    return snap
  end)
  if ok and snap then snap:free() end
  return not ok, not ok and tostring(snap) or nil
end

local function combinations ()
  local list = {}
  for bit = 0, 31 do list[#list + 1] = 1 << bit end
  for i = 1, #RULED do
    for j = i + 1, #RULED do list[#list + 1] = RULED[i] | RULED[j] end
    list[#list + 1] = RULED[i] | 0x00000002      -- with a reserved bit
  end
  return list
end

describe("pss.capture's flag checks", function ()
  it("raise exactly when pss.core.capture raises", function ()
    if core.platform == "windows" then return end   -- Windows decides for itself
    local checked, raising = 0, 0
    for _, flags in ipairs(combinations()) do
      local lua_raises, msg = raises(pss.capture, flags)
      local c_raises = raises(core.capture, flags)
      assert.are.equal(c_raises, lua_raises, ("flags 0x%08x"):format(flags))
      if lua_raises then   -- raised by pss.capture's own check, at the caller
        assert.matches("^[^\n]*20_capture_checks_spec%.lua:%d+: bad argument #2 to 'capture'", msg)
      end
      checked = checked + 1
      if c_raises then raising = raising + 1 end
    end
    -- both kinds were met: the comparison is not between two silences
    assert.is_true(raising > 0 and raising < checked, ("%d of %d raise"):format(raising, checked))
  end)
end)
