-- ganforge for Neovim (0.7+): a thin client of `ganforge lsp`, Neovim's built-in LSP client.
--
--   require("ganforge").setup({ pack = "~/packs/names.onnx", count = 5, temperature = 0.8 })
--   :GanforgeGenerate [count]     insert generated lines above the cursor line
--   :GanforgePacks                list the text packs the server finds
--   vim.keymap.set("n", "<leader>gg", "<cmd>GanforgeGenerate<cr>")   -- a keymap suggestion
--
-- "Generate here" is also offered as a code action (vim.lsp.buf.code_action()) and the
-- candidates as completion items (omnifunc / your completion plugin).
--
-- Neovim 0.12+ (feature-detected: vim.lsp.inline_completion): ghost text continuing the line as
-- you type, from the server's textDocument/inlineCompletion. <Tab> accepts, <M-]> / <M-[> cycle
-- the candidates (the `inline` option: false turns it off, or remap the keys). Older Neovim
-- keeps everything above.
local M = {}

M.config = {
  cmd = { "ganforge", "lsp" },
  pack = nil,
  count = 5,
  temperature = 1.0,
  seed = nil, -- nil: the server counts seeds up from 0, so every call gives new lines
  pack_paths = {},
  filetypes = { "text", "markdown", "gitcommit", "rst", "org", "tex", "asciidoc" },
  inline_count = 5, -- ghost-text candidates per request
  inline_debounce_ms = 100, -- the server waits this long after a keystroke before generating
  inline = { accept = "<Tab>", next = "<M-]>", prev = "<M-[>" }, -- false: no ghost text
}
-- Whether ghost text was switched on (Neovim 0.12+ with `inline` set); false on older Neovim.
M.inline_enabled = false
M.client_id = nil
M.last_result = nil
M.last_error = nil

local function init_options()
  local c = M.config
  return { pack = c.pack and vim.fn.expand(c.pack) or nil, count = c.count, temperature = c.temperature,
           seed = c.seed, packPaths = c.pack_paths, inlineCount = c.inline_count,
           inlineDebounceMs = c.inline_debounce_ms }
end

--- Neovim 0.12's inline completion for this buffer, when this Neovim has it (feature-detected, so
--- 0.7-0.11 never touch it). Keys are buffer-local and fall back to their usual meaning when no
--- ghost text is shown.
local function enable_inline(bufnr, client)
  local ic = vim.lsp.inline_completion
  local keys = M.config.inline
  if not keys or ic == nil or type(ic.enable) ~= "function" then return end
  if client.server_capabilities.inlineCompletionProvider == nil then return end
  ic.enable(true, { bufnr = bufnr })
  M.inline_enabled = true
  local function map(lhs, fn, expr, desc)
    if lhs then vim.keymap.set("i", lhs, fn, { buffer = bufnr, expr = expr, desc = desc }) end
  end
  -- accept as Neovim's own docs do: an expr mapping that falls back to the key itself
  -- (get() applies the edit outside the mapping's text lock)
  map(keys.accept, function()
    if not ic.get() then return keys.accept end
  end, true, "ganforge: accept the ghost text")
  map(keys.next, function() ic.select({ count = 1 }) end, false, "ganforge: next candidate")
  map(keys.prev, function() ic.select({ count = -1 }) end, false, "ganforge: previous candidate")
end

--- Start the server once and attach it to the buffer; returns the client (initialised).
function M.attach(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  if M.client_id == nil or vim.lsp.get_client_by_id(M.client_id) == nil then
    M.client_id = vim.lsp.start_client({
      name = "ganforge",
      cmd = M.config.cmd,
      root_dir = vim.fn.getcwd(),
      init_options = init_options(),
    })
    if M.client_id == nil then
      vim.notify("ganforge: could not start " .. table.concat(M.config.cmd, " "), vim.log.levels.ERROR)
      return nil
    end
  end
  vim.lsp.buf_attach_client(bufnr, M.client_id)
  local client = vim.lsp.get_client_by_id(M.client_id)
  vim.wait(15000, function() return client.initialized end, 20)
  if client.initialized then enable_inline(bufnr, client) end
  return client
end

--- Insert `count` generated lines (default: the configured count) above the cursor line.
function M.generate(count, opts)
  opts = opts or {}
  local bufnr = vim.api.nvim_get_current_buf()
  local client = M.attach(bufnr)
  if client == nil then return end
  local row = vim.api.nvim_win_get_cursor(0)[1] - 1
  local arg = { uri = vim.uri_from_bufnr(bufnr), position = { line = row, character = 0 } }
  if count then arg.count = count end
  for _, key in ipairs({ "pack", "seed", "temperature" }) do
    if opts[key] ~= nil then arg[key] = opts[key] end
  end
  M.last_result, M.last_error = nil, nil
  client.request("workspace/executeCommand", { command = "ganforge.generate", arguments = { arg } },
    function(err, result)
      if err then
        M.last_error = err
        vim.notify("ganforge: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      else
        M.last_result = result
      end
    end, bufnr)
end

function M.list_packs()
  local client = M.attach()
  if client == nil then return end
  client.request("workspace/executeCommand", { command = "ganforge.listPacks", arguments = {} },
    function(err, result)
      if err then
        vim.notify("ganforge: " .. err.message, vim.log.levels.ERROR)
        return
      end
      local lines = {}
      for _, p in ipairs(result or {}) do
        table.insert(lines, (p.default and "* " or "  ") .. p.path)
      end
      vim.notify(#lines > 0 and table.concat(lines, "\n") or "ganforge: no text packs found")
    end)
end

function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", M.config, opts or {})
  vim.api.nvim_create_user_command("GanforgeGenerate", function(a)
    local n = tonumber(a.args)
    if a.args ~= "" and (n == nil or n < 1) then
      vim.notify("ganforge: :GanforgeGenerate [count], count a positive number", vim.log.levels.ERROR)
      return
    end
    M.generate(n)
  end, { nargs = "?", desc = "Insert lines generated by a ganforge text pack" })
  vim.api.nvim_create_user_command("GanforgePacks", M.list_packs, { desc = "List ganforge text packs" })
  local group = vim.api.nvim_create_augroup("ganforge", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group, pattern = M.config.filetypes, callback = function(ev) M.attach(ev.buf) end,
  })
end

return M
