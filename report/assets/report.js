// The tooltips of the treemap, and highlighting a layer's boxes from the
// legend. Every text is set with textContent: paths come from the image.
(function () {
	'use strict';
	var map = document.getElementById('treemap');
	var tip = document.getElementById('tip');
	if (!map || !tip) {
		return;
	}
	var commands = {};
	document.querySelectorAll('details.layer').forEach(function (d) {
		var c = d.querySelector('.cmd');
		commands[d.dataset.layer] = c ? c.title : '';
	});
	function add(tag, cls, text) {
		var e = document.createElement(tag);
		e.className = cls;
		e.textContent = text;
		tip.appendChild(e);
	}
	map.addEventListener('mousemove', function (ev) {
		var b = ev.target.closest('.box');
		if (!b) {
			tip.hidden = true;
			return;
		}
		tip.replaceChildren();
		var files = Number(b.dataset.files);
		add('div', 'tip-path', b.dataset.path);
		add('div', 'tip-size', b.dataset.size + (files > 1 ? ' in ' + files + ' files' : ''));
		var l = b.dataset.layer;
		add('div', 'tip-layer', (b.classList.contains('dir') || b.classList.contains('other') ? 'mostly layer ' : 'layer ') + l +
			(commands[l] ? ': ' + commands[l].slice(0, 90) : ''));
		if (b.dataset.tip) {
			add('div', 'tip-layers', b.dataset.tip);
		}
		tip.hidden = false;
		var x = ev.clientX + 14, y = ev.clientY + 14;
		var w = tip.offsetWidth, h = tip.offsetHeight;
		if (x + w > window.innerWidth - 8) {
			x = Math.max(8, ev.clientX - w - 14);
		}
		if (y + h > window.innerHeight - 8) {
			y = Math.max(8, ev.clientY - h - 14);
		}
		tip.style.left = x + 'px';
		tip.style.top = y + 'px';
	});
	map.addEventListener('mouseleave', function () {
		tip.hidden = true;
	});
	function highlight(layer) {
		map.classList.toggle('hl', layer !== null);
		map.querySelectorAll('.box').forEach(function (b) {
			b.classList.toggle('on', b.dataset.layer === layer);
		});
	}
	document.querySelectorAll('[data-key]').forEach(function (k) {
		k.addEventListener('mouseenter', function () {
			highlight(k.dataset.key);
		});
		k.addEventListener('mouseleave', function () {
			highlight(null);
		});
	});
})();
