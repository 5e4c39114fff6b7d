%% counter_sup.erl - 05_application: the counter's supervisor, registered
%% globally. 04's flags and child spec; only the name's scope changed.
-module(counter_sup).
-behaviour(supervisor).
-export([start_link/1, init/1]).

start_link(Initial) ->
    supervisor:start_link({global, counter_sup}, counter_sup, Initial).

init(Initial) ->
    Flags = #{strategy => one_for_one, intensity => 10, period => 3600},
    Child = #{id => counter,
              start => {counter, start_link, [Initial]},
              restart => permanent,
              shutdown => 2000,
              type => worker},
    {ok, {Flags, [Child]}}.
