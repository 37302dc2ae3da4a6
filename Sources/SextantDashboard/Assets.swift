/// The dashboard's stylesheet and script, embedded in the binary (no Node toolchain, nothing
/// fetched at run time).
enum Assets {
    static let css = """
    :root{--bg:#f7f7f9;--fg:#1d1f23;--muted:#6b7280;--line:#e3e5e8;--good:#16803c;--bad:#c0262d;--warn:#b45309;--accent:#2456a6}
    *{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,sans-serif;background:var(--bg);color:var(--fg)}
    header{display:flex;gap:1.5rem;align-items:center;padding:.6rem 1.2rem;background:#15213a;color:#fff}
    header a{color:#c9d6f0;text-decoration:none;margin-right:1rem}header a.active{color:#fff;font-weight:600}
    .brand{font-weight:700;letter-spacing:.04em}.live{margin-left:auto;font-size:12px;color:#9fb3d9}
    main{padding:1rem 1.2rem;max-width:1400px}h1{font-size:1.35rem;margin:.2rem 0 .8rem}h2{font-size:1.05rem;margin:1.4rem 0 .5rem}
    table{border-collapse:collapse;width:100%;background:#fff;border:1px solid var(--line)}
    th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
    th{background:#f0f1f4;font-weight:600;font-size:12px;text-transform:uppercase;color:var(--muted)}
    a{color:var(--accent)}code{font-size:12px;word-break:break-all}
    .badge{display:inline-block;padding:0 .45rem;border-radius:.6rem;font-size:12px;font-weight:600;background:#e5e7eb}
    .badge.good{background:#dcf3e3;color:var(--good)}.badge.bad{background:#fbe1e2;color:var(--bad)}.badge.warn{background:#fdf0d9;color:var(--warn)}
    .facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;background:#fff;border:1px solid var(--line);padding:.6rem .9rem}
    .facts dt{color:var(--muted)}.facts dd{margin:0}
    .steps{display:flex;gap:.4rem;flex-wrap:wrap;list-style:none;padding:0}
    .steps li{background:#fff;border:1px solid var(--line);border-radius:.4rem;padding:.4rem .7rem;min-width:8rem}
    .steps li.done{border-color:var(--good)}.steps li.current{border:2px solid var(--warn)}.steps li.failed{border:2px solid var(--bad)}
    .steps .n{color:var(--muted);font-size:12px}.weightbar{height:6px;background:#e5e7eb;border-radius:3px;margin-top:.3rem}
    .weightbar span{display:block;height:6px;background:var(--accent);border-radius:3px}
    .actions{display:flex;gap:.5rem;margin:.6rem 0}.action{display:inline}
    button{font:inherit;padding:.25rem .8rem;border:1px solid #9aa4b5;border-radius:.3rem;background:#fff;cursor:pointer}
    button:hover{background:#eef2fa}.filter{display:flex;gap:1rem;align-items:center;margin-bottom:.8rem}
    .filter input{font:inherit;padding:.2rem .4rem}.empty,.note{color:var(--muted)}
    .error{background:#fbe1e2;color:var(--bad);padding:.6rem .9rem;border:1px solid #f1b5b8;border-radius:.3rem}
    #flash:not(:empty){margin:.6rem 1.2rem;padding:.5rem .9rem;background:#e8eefb;border:1px solid #bccbec;border-radius:.3rem}
    .charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:1rem}
    .chart{background:#fff;border:1px solid var(--line);padding:.5rem}.chart h3{font-size:13px;margin:0 0 .3rem}
    svg text{font-size:10px;fill:var(--muted)}
    """

    /// Live updates: the page subscribes to its server-sent event stream (the server watches the
    /// objects the page shows); on each change it fetches the page's fragment and swaps `<main>`.
    /// The stream is closed when the page is left (see `pagehide`).
    /// Action forms post through fetch with the CSRF token and report the answer without a reload.
    static let script = """
    (function(){
      var main=document.getElementById('main'),live=document.getElementById('live'),flash=document.getElementById('flash');
      var token=(document.querySelector('meta[name=csrf-token]')||{}).content||'';
      var busy=false,again=false;
      function refresh(){
        if(busy){again=true;return}busy=true;
        var url=location.pathname+(location.search?location.search+'&':'?')+'fragment=1';
        fetch(url,{headers:{'Accept':'text/html'}}).then(function(r){return r.ok?r.text():null}).then(function(html){
          if(html!==null){main.innerHTML=html;document.body.dataset.updates=String((+document.body.dataset.updates||0)+1);
            live.textContent='updated '+new Date().toLocaleTimeString()}
        }).finally(function(){busy=false;if(again){again=false;refresh()}});
      }
      var es=null;
      function connect(){
        es=new EventSource(main.dataset.stream);
        es.addEventListener('change',refresh);
        es.onopen=function(){live.textContent='live'};
        es.onerror=function(){live.textContent='reconnecting…'};
      }
      if(main&&main.dataset.stream&&window.EventSource){
        connect();
        // A page left for another one may stay in the back/forward cache with its stream open,
        // holding one of the browser's six connections to this host: close it on the way out,
        // reopen (and catch up) when the page is shown again.
        window.addEventListener('pagehide',function(){if(es){es.close();es=null}});
        window.addEventListener('pageshow',function(e){if(e.persisted&&!es){connect();refresh()}});
      }
      document.addEventListener('submit',function(e){
        var form=e.target;if(!form.classList||!form.classList.contains('action'))return;
        e.preventDefault();
        fetch(form.action,{method:'POST',headers:{'X-CSRF-Token':token,'Content-Type':'application/x-www-form-urlencoded'},
          body:new URLSearchParams(new FormData(form))}).then(function(r){return r.text().then(function(t){
            flash.textContent=t;flash.dataset.status=String(r.status)})});
      });
    })();
    """
}
