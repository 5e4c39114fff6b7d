%% hot_tour.erl - the C tour's steps on BEAM: counter.erl (version 1) runs,
%% counter_v2.erl is compiled to counter.beam over it and loaded, the
%% gen_server is upgraded by sys:suspend, sys:change_code, sys:resume, the
%% raw loop moves at its next message; then the two-version rule, the
%% downgrade, and code:purge killing a process that stays in old code.
%%
%%   make erl    (erlc hot_tour.erl && erl -noshell -s hot_tour run -s init stop)
-module(hot_tour).
-export([run/0]).

run() ->
    %% The code server also logs every failed load as an error report, later
    %% and out of order; the tour shows the values load_file returns.
    ok = logger:set_primary_config(level, critical),
    Dir = filename:join(os:getenv("TMPDIR", "/tmp"), "hot_tour_" ++ os:getpid()),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    true = code:add_patha(Dir),
    install("counter.erl", Dir),
    show("code:load_file(counter)", code:load_file(counter)),
    {ok, _} = counter:start_link(),
    Loop = counter:start_loop(),
    counter:tick(5), Loop ! {tick, 5},
    show("counter:read()", counter:read()),
    show("counter:ask(Loop, read)", counter:ask(Loop, read)),
    upgrade(Dir, Loop),
    downgrade_and_purge(Dir, Loop).

upgrade(Dir, Loop) ->
    say("version 2 is compiled over version 1; the gen_server is suspended"),
    say("(it calls its callbacks fully qualified: a version loaded while it"),
    say("runs would get the old state), version 2 is loaded, and the state is"),
    say("converted by version 2's code_change:"),
    install("counter_v2.erl", Dir),
    show("sys:suspend(counter)", sys:suspend(counter)),
    show("code:load_file(counter)", code:load_file(counter)),
    show("sys:change_code(counter, counter, 1, [])",
         sys:change_code(counter, counter, 1, [])),
    show("sys:resume(counter)", sys:resume(counter)),
    show("sys:get_state(counter)", sys:get_state(counter)),
    say("the raw loop still sits in version 1, so:"),
    show("code:soft_purge(counter)", code:soft_purge(counter)),
    show("code:load_file(counter)", code:load_file(counter)),
    say("its next message is served by version 1, then ?MODULE:loop enters 2:"),
    show("counter:ask(Loop, vsn)", counter:ask(Loop, vsn)),
    show("counter:ask(Loop, vsn)", counter:ask(Loop, vsn)),
    show("code:soft_purge(counter)", code:soft_purge(counter)),
    show("counter:reset()", counter:reset()),
    show("counter:ask(Loop, reset)", counter:ask(Loop, reset)),
    counter:tick(3),
    show("counter:read()", counter:read()).

downgrade_and_purge(Dir, Loop) ->
    say("downgrade: code_change({down, 1}, ...) runs in version 2, then"),
    say("version 1 is loaded back; the raw loop gets no message:"),
    show("sys:suspend(counter)", sys:suspend(counter)),
    show("sys:change_code(counter, counter, {down, 1}, [])",
         sys:change_code(counter, counter, {down, 1}, [])),
    install("counter.erl", Dir),
    show("code:load_file(counter)", code:load_file(counter)),
    show("sys:resume(counter)", sys:resume(counter)),
    show("sys:get_state(counter)", sys:get_state(counter)),
    show("counter:reset()", counter:reset()),
    Ref = erlang:monitor(process, Loop),
    show("code:soft_purge(counter)", code:soft_purge(counter)),
    show("code:purge(counter)", code:purge(counter)),
    receive {'DOWN', Ref, process, Loop, Why} -> show("the loop's 'DOWN' reason", Why) end,
    show("counter:read()", counter:read()),
    [file:delete(F) || F <- filelib:wildcard(filename:join(Dir, "*"))],
    file:del_dir(Dir).

%% Compiles Src (module counter, whatever the file's name) to Dir/counter.beam.
install(Src, Dir) ->
    {ok, counter, Beam} = compile:file(Src, [binary, report]),
    ok = file:write_file(filename:join(Dir, "counter.beam"), Beam).

say(Text) -> io:format("%% ~s~n", [Text]).
show(Expr, Value) -> io:format("> ~s.~n~p~n", [Expr, Value]).
