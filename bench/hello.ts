// The cold-start reference: a bare Deno.serve.
Deno.serve({ onListen: () => {} }, () => new Response("hello"));
