%% counter.erl - 01_simple: a counter in a process of its own.
%%
%% Build and try it:
%%   erlc counter.erl && erl -noshell -eval 'counter:demo(), halt().'
%% or in erl:  c(counter). counter:start(). counter:tick(5). counter:read().
-module(counter).
-export([start/0, stop/0, tick/1, read/0, demo/0]).
-export([loop/1]).

%% Spawns loop(0) and registers it as counter. Returns true.
%% A second start/0 raises badarg in register/2 and leaves the new process
%% running, unreachable.
start() ->
    register(counter, spawn(counter, loop, [0])).

stop() ->
    counter ! {stop, self()},
    ok.

tick(N) ->
    counter ! {tick, N, self()},
    ok.

%% The reply is the bare count, taken by a receive-anything: any message
%% already in the caller's mailbox is returned instead.
read() ->
    counter ! {read, self()},
    receive
        Any -> Any
    end.

loop(N) ->
    receive
        {stop, _From} ->
            ok;
        {tick, T, _From} ->
            loop(N + T);
        {read, From} ->
            From ! N,
            loop(N)
    end.

%% ---- The demo: the session 01_simple/counter prints (tour.txt) -------
%% It prints the same transcript as the C program, through tour.erl
%% (common/shell/): run it as the README says.

demo() ->
    tour:start(),
    tour:say("A counter is a process looping over its count. The only way in"),
    tour:say("is a message: spawn, send (!) and receive."),
    tour:say("start() spawns loop(0) and registers it as counter:"),
    tour:show("counter:start().", fun start/0),
    tour:show("counter:tick(2).", fun() -> tick(2) end),
    tour:show("counter:tick(3).", fun() -> tick(3) end),
    tour:say("read() sends {read, self()} and takes the first message that comes:"),
    tour:show("counter:read().", fun read/0),
    tour:say("The weakness: read() takes ANY message as its reply."),
    tour:say("Put a stray message in our own mailbox, then read:"),
    tour:show("self() ! 999.", fun() -> self() ! 999 end),
    tour:show("counter:read().", fun read/0),
    tour:say("The real reply (5) is left behind. Tick, and read again:"),
    tour:show("counter:tick(10).", fun() -> tick(10) end),
    tour:show("counter:read().", fun read/0),
    tour:say("The count is 15, but read() returned the stale 5: from now on"),
    tour:say("every read is one reply behind. 02_rpc tags replies to fix this."),
    Ref = monitor(process, counter),
    tour:say("stop() sends {stop, self()}; the process ends, its name with it:"),
    tour:show("counter:stop().", fun stop/0),
    receive {'DOWN', Ref, process, _, _} -> ok end,
    tour:say("Sending to a name nobody holds raises badarg:"),
    tour:show("counter:read().", fun read/0),
    tour:say("Try it yourself: 01_simple/counter --shell").
