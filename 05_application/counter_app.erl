%% counter_app.erl - 05_application: the application callback. The
%% application controller calls start/2 on the node that is to run the
%% counter, with the start type: normal, {failover, Node} (Node died while
%% running it; OTP passes this type only to an application whose .app has
%% start_phases, hence the empty list in counter.app) or {takeover, Node}
%% (this node outranks Node, which runs it).
-module(counter_app).
-behaviour(application).
-export([start/2, stop/1]).

start(Type, _Args) ->
    io:format("counter_app: start(~p, []) on ~p~n", [Type, node()]),
    {ok, Initial} = application:get_env(counter, initial),
    take_names(Type),
    counter_sup:start_link(Initial).

stop(_State) ->
    io:format("counter_app: stop([]) on ~p~n", [node()]),
    ok.

%% On a takeover OTP starts the new instance before it stops the old one,
%% which still holds the global names counter_sup and counter. A node that
%% has just come up may not have learnt those names yet: global:sync/0 waits
%% until it has, so that it never registers a name another node holds (two
%% holders, one of them killed by global when the names meet). Then the new
%% instance takes the names over; the old one keeps running, unnamed, until
%% the application controller stops it with shutdown a moment later. On a
%% normal start or a failover no other instance runs, and global has dropped
%% the names of a dead node's processes: nothing to wait for.
take_names({takeover, _OldNode}) ->
    ok = global:sync(),
    _ = global:unregister_name(counter_sup),
    _ = global:unregister_name(counter),
    ok;
take_names(_Type) ->
    ok.
