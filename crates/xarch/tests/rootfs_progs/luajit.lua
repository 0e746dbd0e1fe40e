-- Exercises LuaJIT's trace compiler: hot loops are compiled to arm64 code
-- at run time, flushed and compiled again into the same machine-code area.
local function fib(n) if n < 2 then return n end return fib(n-1) + fib(n-2) end
local function work(seed)
  local acc, f = 0, 0.0
  for i = 1, 30000 do
    acc = (acc * 31 + i + seed) % 1000003
    f = f + math.sin(i) * 0.5 + (i % 7) / 3
  end
  local t = {}
  for i = 1, 20000 do t[i] = (i * seed) % 977 end
  table.sort(t)
  local s = {}
  for i = 1, 2000 do s[#s + 1] = string.format("%x", t[i] * i) end
  return acc, string.format("%.6f", f), t[1], t[#t], #table.concat(s, ",")
end
local jit_on = jit and jit.status()
-- Count the traces LuaJIT finished compiling (reported on stderr: the
-- number may differ between architectures).
local traces = 0
if jit and jit.attach then
  jit.attach(function(what) if what == "stop" then traces = traces + 1 end end, "trace")
end
for round = 1, 4 do
  local a, b, c, d, e = work(round)
  print(round, a, b, c, d, e, fib(18 + round))
  if jit then jit.flush() end
end
-- Closures and varargs in a hot loop; string building.
local fs = {}
for i = 1, 100 do fs[i] = function(...) return select('#', ...) + i end end
local sum = 0
for k = 1, 3000 do sum = sum + fs[k % 100 + 1](k, k, k) end
print("closures", sum, "jit", jit_on and "on" or "off")
io.stderr:write("traces ", traces, "\n")
